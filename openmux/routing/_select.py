"""Stage 2, select: THE selection, used by every surface (chat, fan-out members, a
combiner's own call, embeddings, `openmux models`, the server).

    budget              the request's deadline and attempt budget
    offline check       no remote provider reachable -> local providers only
    capability filter   tools bound -> tool-capable; image content -> vision;
                        estimated prompt tokens (chars / 4) <= context length;
                        [router] exclude; free_only (paid ones kept aside)
    rank                see `_rank` (strategy, policy, prefer); the provider of the
                        conversation's tool calls goes first (sticky)

Embedding requests (`output="embeddings"`) take the providers' embedding models in
configuration order, so the same configuration picks the same model everywhere.
Benched candidates keep their rank: the call stage skips them without sending a byte
and the failover stage may wait for the soonest one to return.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage

from openmux.config import ModelEntry, explain_no_candidates
from openmux.errors import ConfigError
from openmux.quality import quality_version
from openmux.routing._plan import LATENCY_TTL, Pair, Plan, ProviderPlan, build_plan, plan_for
from openmux.routing._rank import rank
from openmux.routing._request import Candidate, RouteRequest

if TYPE_CHECKING:
    from openmux.catalog import Catalog
    from openmux.config import ProviderSettings, Settings
    from openmux.health import HealthStore
    from openmux.routing._context import Router

_MAX_SELECTIONS = 512


def select(router: Router, request: RouteRequest, *, listing: bool = False) -> list[Candidate]:
    """Fill the request's budget, offline flag and ranked candidates; return the candidates.

    `listing` ranks every chat model of the allowed providers for the request's task,
    including providers without a key or server and paid models (`openmux models`)."""
    if listing:
        return _listing(router, request)
    settings = router.settings
    request.deadline = request.started + settings.timeouts.total
    request.max_attempts = settings.max_attempts
    request.offline = not router.online()
    if request.offline and not settings.offline:
        settings = router.offline_settings
    local_models = router.local_models()
    if request.output == "embeddings":
        candidates = embedding_candidates(request, settings, local_models)
    else:
        candidates = select_candidates(
            request, settings, local_models, catalog=router.catalog, health=router.health
        )
    request.candidates = candidates
    if not candidates:
        request.cause = explain_no_candidates(settings)
    request.marks["selected"] = time.perf_counter()
    return candidates


def _pins(request: RouteRequest, settings: Settings) -> tuple[str | None, str | None]:
    """(pinned provider, model id) from `model=` and `provider=`; ConfigError on a clash."""
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
    return pinned_provider, model_id


def embedding_candidates(
    request: RouteRequest, settings: Settings, local_models: Mapping[str, list[str] | None]
) -> list[Candidate]:
    """Every provider's embedding models in configuration order; pins and free_only apply."""
    pinned_provider, model_id = _pins(request, settings)
    candidates: list[Candidate] = []
    not_free: list[Candidate] = []
    serving: list[ProviderSettings] = []
    for provider in settings.provider_order():
        if pinned_provider and provider.name != pinned_provider:
            continue
        models = _embedding_models(provider, local_models)
        if not provider.usable or models is None:
            if provider.embedding_models or provider.protocol == "ollama":
                request.hints.append(provider.hint())
            continue
        serving.append(provider)
        for model in models:
            if model_id is not None and model != model_id:
                continue
            reason = f"embeddings: {model}, #{len(serving)} in provider order"
            candidate = Candidate(provider, ModelEntry(model), reason)
            if settings.free_only and not provider.is_free(model):
                not_free.append(candidate)
            else:
                candidates.append(candidate)
    if model_id is not None and not candidates and not not_free:
        # An id no list knows is still tried where embeddings are served: it was asked for.
        candidates = [
            Candidate(p, ModelEntry(model_id), f"embeddings: {model_id} was asked for by name")
            for p in serving
        ]
    if not candidates and not_free:
        for candidate in not_free:
            request.record(candidate, "not_free", error="paid model; free_only is on")
        request.hints.append("set free_only = false (or OPENMUX_FREE_ONLY=0) to allow paid models")
    return candidates


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


def estimate_tokens(request: RouteRequest) -> int:
    """Prompt tokens, roughly: characters / 4 (no tokenizer download)."""
    chars = 0
    for message in request.messages:
        content = message.content
        if isinstance(content, str):
            chars += len(content)
        else:
            for block in content:
                if isinstance(block, str):
                    chars += len(block)
                elif isinstance(block, dict) and isinstance(block.get("text"), str):
                    chars += len(block["text"])
    return chars // 4


@dataclass(frozen=True)
class _Selection:
    candidates: tuple[Candidate, ...]
    hints: tuple[str, ...]
    not_free: tuple[Candidate, ...]


def select_candidates(
    request: RouteRequest,
    settings: Settings,
    local_models: Mapping[str, list[str] | None],
    *,
    catalog: Catalog,
    health: HealthStore,
) -> list[Candidate]:
    """Ranked chat candidates; also fills `request.hints` and `not_free` attempts."""
    pinned_provider, model_id = _pins(request, settings)
    catalog.maybe_refresh(settings, health)
    plan = plan_for(settings, catalog, local_models)

    task = str(request.classification.task) if request.classification else "chat"
    vision = request.has_image_input
    need = max(estimate_tokens(request), request.min_context)
    benched = _benched(health)
    key = (
        task,
        request.needs_tools,
        vision,
        bisect_left(plan.context_levels, need),
        pinned_provider,
        model_id,
        sticky_provider(request),
        benched,
        quality_version(settings.state_dir),  # a vote or bench result re-ranks at once
    )
    now = time.monotonic()
    cached = plan.cache.get(key)
    if cached is None or cached[0] < now:
        selection = _select(plan, request, health, key, need)
        with plan.lock:
            if len(plan.cache) >= _MAX_SELECTIONS:
                plan.cache.clear()
            plan.cache[key] = (now + LATENCY_TTL, selection)
    else:
        selection = cached[1]
    request.hints.extend(selection.hints)
    for candidate in selection.not_free:
        request.record(candidate, "not_free", error="paid model; free_only is on")
    return list(selection.candidates)


def _benched(health: HealthStore) -> frozenset[tuple[str, str]]:
    benches = health.benches()
    return frozenset((b.provider, b.model) for b in benches) if benches else frozenset()


def _select(
    plan: Plan, request: RouteRequest, health: HealthStore, key: tuple[Any, ...], need: int
) -> _Selection:
    settings = plan.settings
    _task, needs_tools, vision, level, pinned_provider, model_id, sticky, benched, _ = key
    hints: list[str] = []
    usable: list[ProviderPlan] = []
    for entry in plan.providers:
        if pinned_provider and entry.provider.name != pinned_provider:
            continue
        if entry.pairs is None:
            if entry.hint:
                hints.append(entry.hint)
            continue
        usable.append(entry)
    if pinned_provider and not usable and pinned_provider in settings.providers:
        provider = settings.providers[pinned_provider]
        if provider.enabled and not provider.usable:
            hints.append(provider.hint())

    task = str(request.classification.task) if request.classification else "chat"
    if model_id is not None:
        ranked = _named(plan, usable, model_id)
        reasons = [
            f"{p.entry.id} was asked for by name; {p.provider.name} is #{p.p_index + 1} "
            "in provider order"
            for p in ranked
        ]
    else:
        pairs = [
            p
            for entry in usable
            for p in entry.pairs or ()
            if not p.excluded
            and (p.entry.tools or not needs_tools)
            and (p.entry.vision or not vision)
        ]
        fitting = [p for p in pairs if not p.context_known or p.entry.context_length >= need]
        too_long = bool(pairs) and not fitting
        if too_long:
            hints.append(
                "the prompt is longer than every candidate's context "
                f"(at most {plan.context_levels[-1]} tokens); trying the largest first"
            )
            fitting = sorted(pairs, key=lambda p: -p.entry.context_length)
        ranked, reasons = rank(
            plan.catalog,
            settings,
            fitting,
            task,
            plan.latency_reader(health, time.monotonic()),
            benched,
            needs_tools=needs_tools,
            vision=vision,
            long_context=plan.context_levels[level - 1] if level else 0,
            keep_order=too_long,
        )
    candidates: list[Candidate] = []
    not_free: list[Candidate] = []
    for pair, reason in zip(ranked, reasons, strict=True):
        candidate = Candidate(pair.provider, pair.entry, reason, pair.free, pair.facts)
        if settings.free_only and not pair.free:
            not_free.append(candidate)
        else:
            candidates.append(candidate)
    if candidates:
        not_free = []
    elif not_free:
        hints.append("set free_only = false (or OPENMUX_FREE_ONLY=0) to allow paid models")
    if sticky is not None:
        candidates.sort(key=lambda c: c.provider.name != sticky)
    return _Selection(tuple(candidates), tuple(hints), tuple(not_free))


def _named(plan: Plan, usable: list[ProviderPlan], model_id: str) -> list[Pair]:
    known = [p for entry in usable for p in entry.pairs or () if p.entry.id == model_id]
    if known:
        return known
    # An id no list knows is still tried at each allowed provider: the user asked for it.
    order = {e.provider.name: i for i, e in enumerate(plan.providers)}
    named = []
    for entry in usable:
        provider = entry.provider
        facts = plan.catalog.resolve(provider, model_id, None)
        model = ModelEntry(
            model_id,
            vision=facts.vision,
            tools=facts.tools,
            context_length=facts.context_length or ModelEntry(model_id).context_length,
        )
        offer_free = facts.offer.free if facts.offer is not None else None
        named.append(
            Pair(
                provider=provider,
                entry=model,
                facts=facts,
                p_index=order.get(provider.name, 0),
                m_index=0,
                free=provider.is_free(model_id) and offer_free is not False,
                context_known=facts.context_length is not None,
                assumed=False,
                pin=0,
                excluded=False,
            )
        )
    return named


def _listing(router: Router, request: RouteRequest) -> list[Candidate]:
    settings = router.settings
    plan = build_plan(settings, router.catalog, router.local_models(), include_unusable=True)
    task = str(request.classification.task) if request.classification else "chat"
    vision = task == "image"
    pairs = [pair for entry in plan.providers for pair in entry.pairs or ()]
    health = router.health
    ranked, reasons = rank(
        plan.catalog,
        settings,
        pairs,
        task,
        lambda pair: health.p95_first_token_ms(pair.provider.name, pair.entry.id),
        _benched(health),
        vision=vision,
    )
    order = sorted(range(len(ranked)), key=lambda i: vision and not ranked[i].entry.vision)
    return [
        Candidate(ranked[i].provider, ranked[i].entry, reasons[i], ranked[i].free, ranked[i].facts)
        for i in order
    ]
