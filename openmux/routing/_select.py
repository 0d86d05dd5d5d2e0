"""Selection: turn a classified request and the settings into an ordered candidate list.

Capability filter (tools, vision) → free-only policy → order (provider order;
the provider of earlier tool calls first). Every candidate carries its reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from langchain_core.messages import AIMessage

from openmux.errors import ConfigError
from openmux.providers import ModelEntry
from openmux.routing._request import Candidate, RouteRequest

if TYPE_CHECKING:
    from openmux.config import ProviderSettings, Settings


def split_model_name(name: str, settings: Settings) -> tuple[str | None, str]:
    """`PROVIDER:ID` pins a provider only when PROVIDER is a configured provider name."""
    head, sep, tail = name.partition(":")
    if sep and head in settings.providers:
        return head, tail
    return None, name


def sticky_provider(request: RouteRequest) -> str | None:
    """The provider that made the conversation's latest tool calls (ids and state live there)."""
    for message in reversed(request.messages):
        if isinstance(message, AIMessage) and message.tool_calls:
            info = message.response_metadata.get("openmux")
            if isinstance(info, Mapping) and info.get("provider"):
                return str(info["provider"])
    return None


def select_candidates(
    request: RouteRequest,
    settings: Settings,
    local_models: Mapping[str, list[str] | None],
) -> list[Candidate]:
    """Ordered candidates; also fills `request.hints` and `not_free` attempts."""
    pinned_provider, model_id = (None, None)
    if request.model:
        pinned_provider, model_id = split_model_name(request.model, settings)
    if request.provider:
        if request.provider not in settings.providers:
            raise ConfigError(
                f"unknown provider {request.provider!r}",
                source="provider=",
                fix=f"use one of: {', '.join(settings.providers)}",
            )
        if pinned_provider and pinned_provider != request.provider:
            raise ConfigError(
                f"model {request.model!r} pins provider {pinned_provider!r} "
                f"but provider={request.provider!r} was asked for",
                source="model=",
                fix="drop one of the two",
            )
        pinned_provider = request.provider

    usable: list[tuple[ProviderSettings, list[ModelEntry]]] = []
    for provider in settings.provider_order():
        if pinned_provider and provider.name != pinned_provider:
            continue
        if not provider.usable:
            if provider.is_free("") or provider.free_model_suffix or not settings.free_only:
                request.hints.append(provider.hint())
            continue
        models = _models_of(provider, local_models)
        if models is None:
            request.hints.append(provider.hint())
            continue
        usable.append((provider, models))
    if pinned_provider and not usable and pinned_provider in settings.providers:
        provider = settings.providers[pinned_provider]
        if provider.enabled and not provider.usable:
            request.hints.append(provider.hint())

    pairs = _pairs_for(model_id, usable)
    pairs = _capable(request, pairs, explicit=model_id is not None)

    task = str(request.classification.task) if request.classification else "chat"
    candidates: list[Candidate] = []
    excluded: list[Candidate] = []
    for rank, (provider, entry) in enumerate(pairs, start=1):
        candidate = Candidate(
            provider, entry, _reason(request, provider, entry, task, rank, model_id)
        )
        if settings.free_only and not provider.is_free(entry.id):
            excluded.append(candidate)
        else:
            candidates.append(candidate)
    if not candidates:
        for candidate in excluded:
            request.record(candidate, "not_free", error="paid model; free_only is on")
        if excluded:
            request.hints.append(
                "set free_only = false (or OPENMUX_FREE_ONLY=0) to allow paid models"
            )

    sticky = sticky_provider(request)
    if sticky is not None:
        candidates.sort(key=lambda c: c.provider.name != sticky)
    return candidates


def _models_of(
    provider: ProviderSettings, local_models: Mapping[str, list[str] | None]
) -> list[ModelEntry] | None:
    if provider.models_configured or not provider.local:
        return list(provider.models)
    found = local_models.get(provider.name)
    if found is None:
        return list(provider.models) if provider.protocol == "llamacpp" else None
    known = {m.id: m for m in provider.models}
    return [known.get(name, ModelEntry(name)) for name in found if not _is_embedding(name)]


def _is_embedding(model_id: str) -> bool:
    lowered = model_id.lower()
    return "embed" in lowered or "bge-" in lowered or "minilm" in lowered


def _pairs_for(
    model_id: str | None, usable: list[tuple[ProviderSettings, list[ModelEntry]]]
) -> list[tuple[ProviderSettings, ModelEntry]]:
    if model_id is None:
        return [(provider, entry) for provider, models in usable for entry in models]
    known = [
        (provider, entry) for provider, models in usable for entry in models if entry.id == model_id
    ]
    # An id no list knows is still tried at each allowed provider: the user asked for it.
    return known or [(provider, ModelEntry(model_id)) for provider, _ in usable]


def _capable(
    request: RouteRequest, pairs: list[tuple[ProviderSettings, ModelEntry]], *, explicit: bool
) -> list[tuple[ProviderSettings, ModelEntry]]:
    if explicit:
        return pairs
    if request.needs_tools:
        pairs = [(p, m) for p, m in pairs if m.tools]
    if request.has_image_input:
        pairs = [(p, m) for p, m in pairs if m.vision]
    return pairs


def _reason(
    request: RouteRequest,
    provider: ProviderSettings,
    entry: ModelEntry,
    task: str,
    rank: int,
    model_id: str | None,
) -> str:
    if model_id is not None:
        return f"{entry.id} was asked for by name; {provider.name} is #{rank} in provider order"
    needs = []
    if request.needs_tools:
        needs.append("tool-capable")
    if request.has_image_input:
        needs.append("vision")
    need = " ".join(needs) + " " if needs else ""
    free = "free " if provider.is_free(entry.id) else ""
    return f"{task}: {free}{need}model of {provider.name}, #{rank} in provider order"
