"""Candidates for the outputs that are not ranked: embeddings and media.

Embedding requests use one model, chosen from the configuration alone
(`configured_embedding_model`), so the same configuration picks the same model
everywhere, whatever is down: vectors of two models live in two spaces. Media requests
(image, speech, transcription) take the models declaring that output, in configuration
order (speech in a format the request names: only the models making it, see
`in_asked_format`). `[router] exclude` rules a model out and `prefer` puts it first, for
both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from openmux.config import ModelEntry
from openmux.errors import AudioFormatUnavailable
from openmux.providers import asked_formats, largest_recording, media_missing, speech_formats
from openmux.routing._pins import request_pins
from openmux.routing._plan import rule_matches
from openmux.routing._request import Candidate, RouteRequest

if TYPE_CHECKING:
    from openmux.config import ProviderSettings, Settings


def configured_embedding_model(
    settings: Settings,
    local_models: Mapping[str, list[str] | None],
    provider: str | None = None,
) -> str | None:
    """The embedding model of an unpinned request: the first free one (with free_only) of the
    first provider in configuration order that has its key and lists embedding models.

    Health, latency and reachability play no part: vectors of two models live in two
    spaces, so a provider being down this minute must not change the model. Only a
    local server's discovered models (Ollama without `embedding_models`) depend on
    whether it runs."""
    free: list[tuple[int, int, int, str]] = []
    paid: list[tuple[int, int, int, str]] = []
    for order, candidate in enumerate(settings.provider_order()):
        if provider and candidate.name != provider:
            continue
        models = _embedding_models(candidate, local_models)
        if not candidate.usable or not models:
            continue
        for position, model in enumerate(models):
            if _excluded(settings, candidate, model):
                continue
            option = (_preference(settings, candidate, model), order, position, model)
            (free if not settings.free_only or candidate.is_free(model) else paid).append(option)
    options = free or paid
    return min(options)[3] if options else None


def _excluded(settings: Settings, provider: ProviderSettings, model: str) -> bool:
    return any(rule_matches(rule, provider, model, None) for rule in settings.exclude)


def _preference(settings: Settings, provider: ProviderSettings, model: str) -> int:
    """Position of the first `[router] prefer` rule naming this model (len(prefer): none)."""
    rules = settings.prefer
    return next(
        (i for i, rule in enumerate(rules) if rule_matches(rule, provider, model, None)),
        len(rules),
    )


def embedding_candidates(
    request: RouteRequest,
    settings: Settings,
    local_models: Mapping[str, list[str] | None],
    *,
    configured: Settings | None = None,
) -> list[Candidate]:
    """The providers of one embedding model, or of every model making the requested
    media, in configuration order; pins and free_only apply.

    The embedding model is the pinned one, else `configured_embedding_model` of
    `configured` (the settings before the offline check narrowed them to local
    providers)."""
    pinned_provider, asked = request_pins(request, settings)
    model_id = asked
    if model_id is None and request.output == "embeddings":
        model_id = configured_embedding_model(configured or settings, local_models, pinned_provider)
    candidates: list[Candidate] = []
    not_free: list[Candidate] = []
    serving: list[ProviderSettings] = []
    for provider in settings.provider_order():
        if pinned_provider and provider.name != pinned_provider:
            continue
        models = _listed_models(request.output, provider, local_models)
        if not provider.usable or models is None:
            if models or (provider.protocol == "ollama" and request.output == "embeddings"):
                request.hints.append(provider.hint())
            continue
        serving.append(provider)
        for model in models:
            if model_id is not None and model != model_id:
                continue
            if _excluded(settings, provider, model):
                continue
            if request.output == "embeddings":
                how = "asked for by name" if asked else "the configuration's embedding model"
                reason = f"embeddings: {model} ({how}), #{len(serving)} in provider order"
            else:
                reason = f"{request.output}: {model}, #{len(serving)} in provider order"
            candidate = Candidate(provider, ModelEntry(model), reason)
            if settings.free_only and not provider.is_free(model):
                not_free.append(candidate)
            else:
                candidates.append(candidate)
    if asked and not candidates and not not_free:
        # An id no list knows is still tried where this output is served: it was asked for.
        candidates = [
            Candidate(p, ModelEntry(asked), f"{request.output}: {asked} was asked for by name")
            for p in serving
        ]
    candidates.sort(key=lambda c: _preference(settings, c.provider, c.model.id))
    if not candidates and not_free:
        for candidate in not_free:
            request.record(candidate, "not_free", error="paid model; free_only is on")
        request.hints.append("set free_only = false (or OPENMUX_FREE_ONLY=0) to allow paid models")
    return candidates


def transcription_limit(settings: Settings, model: str | None, provider: str | None) -> int | None:
    """The bytes of the largest recording a transcription request pinned so would find a
    model to take, or None when one of its models names no limit (or none serves: the
    router then says why). Offline settings only narrow these candidates: never larger."""
    request = RouteRequest(messages=[], output="transcription", model=model, provider=provider)
    candidates = embedding_candidates(request, settings, {})
    limits = [largest_recording(c.provider, c.model.id) for c in candidates]
    if not limits or None in limits:
        return None
    return max(limit for limit in limits if limit is not None)


def in_asked_format(request: RouteRequest, candidates: list[Candidate]) -> list[Candidate]:
    """The speech candidates making a format the request asks for, those making the one it
    prefers first. Each other is skipped unsent, with an attempt saying what it makes (as
    its provider would refuse the format: a 400, and no fault to bench). When none makes
    any, the caller is told which formats can be made, before any provider is asked."""
    asked = asked_formats(request.call_kwargs.get("audio_format"))
    if not asked or not candidates:
        return candidates
    makes = {c.key: speech_formats(c.provider, c.model.id) for c in candidates}
    able = [c for c in candidates if set(makes[c.key]) & set(asked)]
    if not able:
        made = dict.fromkeys(name for formats in makes.values() for name in formats)
        raise AudioFormatUnavailable(
            f"no speech model here makes {' or '.join(asked)}; they make "
            f"{', '.join(made) or 'no known format'}: ask for one of those, or for no format"
        )
    for candidate in candidates:
        if candidate not in able:
            formats = ", ".join(makes[candidate.key])
            error = f"not sent: it makes {formats}, not {' or '.join(asked)}"
            request.record(candidate, "http_4xx", error=error)
    # Sorted by the preferred format each makes; stable, so provider order within one.
    return sorted(able, key=lambda c: min(asked.index(f) for f in makes[c.key] if f in asked))


def _listed_models(
    output: str, provider: ProviderSettings, local_models: Mapping[str, list[str] | None]
) -> list[str] | None:
    if output == "embeddings":
        return _embedding_models(provider, local_models)
    return [m.id for m in provider.media_models if m.makes == output and not media_missing(m.wire)]


def missing_media(settings: Settings, output: str) -> list[str]:
    """What to install for the media models that are listed but cannot run here."""
    found = (
        media_missing(m.wire)
        for p in settings.provider_order()
        for m in p.media_models
        if m.makes == output
    )
    return [hint for hint in found if hint]


def _embedding_models(
    provider: ProviderSettings, local_models: Mapping[str, list[str] | None]
) -> list[str] | None:
    if provider.embedding_models or provider.protocol != "ollama":
        return list(provider.embedding_models)
    found = local_models.get(provider.name)
    if found is None:
        return None  # the server is not running
    from openmux.catalog import is_embedding_id

    return [model for model in found if is_embedding_id(model)]


def embedding_listing(
    settings: Settings, local_models: Mapping[str, list[str] | None]
) -> list[Candidate]:
    """Every allowed provider's embedding models, in the order embedding requests try them,
    including providers without a key (what a key would add)."""
    listed: list[Candidate] = []
    serving = 0
    for provider in settings.provider_order():
        models = _embedding_models(provider, local_models) or []
        serving += bool(models)
        for model in models:
            reason = f"embeddings: {model}, #{serving} in provider order"
            listed.append(Candidate(provider, ModelEntry(model), reason, provider.is_free(model)))
    return listed
