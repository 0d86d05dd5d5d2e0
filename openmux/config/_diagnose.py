"""Why settings leave nothing to ask: the cause, before "set a key" is suggested."""

from __future__ import annotations

from openmux.config._schema import ProviderSettings, Settings

# Below this, no provider can answer: not even a loopback server sends a first token in time.
_SHORTEST_ANSWER_S = 0.5


def explain_no_candidates(settings: Settings) -> str | None:
    """The setting that rules every candidate out, as one line naming it and its source.

    None when the settings themselves leave candidates (the cause is then a
    missing key, a stopped server or a failing provider).
    """
    sources = settings.sources
    if settings.allowed is not None and not settings.allowed:
        return _line(
            "[router] providers = [] allows no provider",
            sources.get("router.providers"),
            "list at least one provider, or remove the line",
        )
    order = settings.provider_order()
    if not order:
        if settings.offline:
            return _line(
                "OPENMUX_OFFLINE=1 allows local providers only, and none is enabled",
                "environment",
                "unset OPENMUX_OFFLINE or enable a local provider",
            )
        return _line(
            "every provider is switched off (enabled = false)", None, "enable at least one"
        )
    with_models = [p for p in order if not (p.models_configured and not p.models)]
    if not with_models:
        names = ", ".join(f"[providers.{p.name}]" for p in order)
        return _line(
            f"models = [] in {names} leaves no model",
            sources.get(f"providers.{order[0].name}.models"),
            "list a model, or remove the line to use every model the provider lists",
        )
    remaining = [p for p in with_models if not _all_excluded(p, settings.exclude)]
    if not remaining:
        return _line(
            f"[router] exclude = {list(settings.exclude)} removes every candidate",
            sources.get("router.exclude"),
            "exclude fewer models or providers",
        )
    for name in ("total", "first_token", "connect"):
        seconds = getattr(settings.timeouts, name)
        if seconds < _SHORTEST_ANSWER_S:
            return _line(
                f"timeouts.{name} = {seconds:g} s is too short for any provider to answer",
                sources.get(f"timeouts.{name}"),
                f"raise it to a few seconds (default {_DEFAULTS[name]:g})",
            )
    return None


_DEFAULTS = {"connect": 3.0, "first_token": 20.0, "total": 120.0}


def _all_excluded(provider: ProviderSettings, exclude: tuple[str, ...]) -> bool:
    if provider.name in exclude:
        return True
    if not provider.models:
        return False  # discovered at run time: cannot tell here
    return all(
        model.id in exclude or f"{provider.name}:{model.id}" in exclude for model in provider.models
    )


def _line(cause: str, source: str | None, fix: str) -> str:
    where = f" (set in {source})" if source and source != "default" else ""
    return f"{cause}{where}: {fix}"
