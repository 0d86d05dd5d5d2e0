"""Stage 2, select: THE selection, used by every surface (chat, fan-out members, a
combiner's own call, embeddings, `openmux models`, the server).

    budget              the request's deadline and attempt budget
    offline check       no remote provider reachable -> local providers only
    capability filter   tools bound -> tool-capable; response_format -> JSON-capable;
                        image content -> vision; a recording -> audio input; media
                        only a client that can send it as given (`_capabilities`:
                        what each excluded model lacks names the cause when nothing
                        is left);
                        estimated prompt tokens (chars / 4) <= context length;
                        [router] exclude; free_only (paid ones kept aside)
    rank                see `_rank` (strategy, policy, prefer); the provider of the
                        conversation's tool calls goes first (sticky)

Embedding requests (`output="embeddings"`) use one model, chosen from the
configuration alone (`configured_embedding_model`), so the same configuration picks
the same model everywhere, whatever is down; candidates are that model's providers.
Media requests (image, speech, transcription) take the models declaring that output
in configuration order, and with none anywhere raise `UnsupportedTask` saying what
would serve them.
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

from openmux.config import MEDIA_KINDS, ModelEntry, explain_no_candidates
from openmux.quality import quality_version
from openmux.routing._capabilities import Needs, capable_pairs, explain_missing
from openmux.routing._classify import raise_unsupported
from openmux.routing._output_candidates import (
    embedding_candidates,
    embedding_listing,
    in_asked_format,
    missing_media,
)
from openmux.routing._pins import request_pins
from openmux.routing._plan import (
    LATENCY_TTL,
    Pair,
    Plan,
    ProviderPlan,
    build_plan,
    is_free_offer,
    plan_for,
)
from openmux.routing._rank import rank
from openmux.routing._request import Candidate, RouteRequest

if TYPE_CHECKING:
    from openmux.catalog import Catalog
    from openmux.config import Settings
    from openmux.health import HealthStore
    from openmux.quotas import Blocked
    from openmux.routing._context import Router

_MAX_SELECTIONS = 512

NETWORK_DOWN_HINT = (
    "connect to the network: no remote provider with a key accepts a connection, "
    "so only models on this machine can answer"
)


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
        request.hints.append(NETWORK_DOWN_HINT)
    local_models = router.local_models()
    if request.output == "embeddings" or request.output in MEDIA_KINDS:
        candidates = embedding_candidates(
            request, settings, local_models, configured=router.settings
        )
        if request.output == "speech":
            candidates = in_asked_format(request, candidates)
        if not candidates and not request.attempts and request.output in MEDIA_KINDS:
            request.hints.extend(missing_media(settings, request.output))
            raise_unsupported(request)
    else:
        candidates = select_candidates(
            request, settings, local_models, catalog=router.catalog, health=router.health
        )
    candidates = within_quota(router, request, candidates)
    request.candidates = candidates
    if not candidates:
        request.cause = explain_no_candidates(settings)
    request.marks["selected"] = time.perf_counter()
    return candidates


def within_quota(
    router: Router, request: RouteRequest, candidates: list[Candidate]
) -> list[Candidate]:
    """Drop the candidates one more request would push over a known free-tier limit.

    One `over_quota` attempt per provider says which limit and when it frees up. Only as
    many candidates are checked as the request may try; the call stage counts for real."""
    kept: list[Candidate] = []
    skipped: set[str] = set()
    tokens = estimate_tokens(request)
    verdicts: dict[str, Blocked | None] = {}  # models sharing one allowance are looked at once
    for index, candidate in enumerate(candidates):
        if len(kept) >= request.max_attempts:
            kept += candidates[index:]
            break
        scope = router.quotas.scope(candidate.provider, candidate.model.id)[0]
        if scope not in verdicts:
            verdicts[scope] = router.quotas.over(candidate.provider, candidate.model.id, tokens)
        blocked = verdicts[scope]
        if blocked is None:
            kept.append(candidate)
        elif candidate.provider.name not in skipped:
            skipped.add(candidate.provider.name)
            skip_over_quota(router, candidate, request, blocked)
    return kept


def skip_over_quota(
    router: Router, candidate: Candidate, request: RouteRequest, blocked: Blocked
) -> None:
    """Record, log and count a candidate skipped for its quota, without a request."""
    from openmux.quotas import log_over_quota

    request.record(candidate, "over_quota", error=blocked.describe())
    request.hints.append(
        f"{candidate.provider.name}: free-tier limit reached ({blocked.describe()})"
    )
    log_over_quota(candidate.provider.name, candidate.model.id, blocked)
    router.quotas.after_call(
        candidate.provider, candidate.model.id, task=request_task(request), status="over_quota"
    )


def request_task(request: RouteRequest) -> str:
    """The task a usage record names: embeddings, or the classified (or forced) task."""
    if request.output == "embeddings":
        return "embeddings"
    if request.classification is not None:
        return str(request.classification.task)
    return request.task or "chat"


def sticky_provider(request: RouteRequest) -> str | None:
    """The provider that made the conversation's latest tool calls (ids and state live there)."""
    for message in reversed(request.messages):
        if isinstance(message, AIMessage) and message.tool_calls:
            info = message.response_metadata.get("openmux")
            if isinstance(info, Mapping) and info.get("provider"):
                return str(info["provider"])
    return None


def text_tokens(text: str) -> int:
    """Tokens in one text, roughly: characters / 4 rounded up (no tokenizer download)."""
    return -(-len(text) // 4)


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
    missing_capability: str | None = None
    """Why no candidate is left when capable models are what is missing."""


def select_candidates(
    request: RouteRequest,
    settings: Settings,
    local_models: Mapping[str, list[str] | None],
    *,
    catalog: Catalog,
    health: HealthStore,
) -> list[Candidate]:
    """Ranked chat candidates; also fills `request.hints` and `not_free` attempts."""
    pinned_provider, model_id = request_pins(request, settings)
    catalog.maybe_refresh(settings, health)
    plan = plan_for(settings, catalog, local_models)

    task = str(request.classification.task) if request.classification else "chat"
    forms = request.media_forms
    vision = not forms.isdisjoint(("image", "image URL"))
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
        request.needs_response_format,
        bool(request.call_kwargs.get("ls_structured_output_format")),
        quality_version(settings.state_dir),  # a vote or bench result re-ranks at once
        forms,
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
    request.missing_capability = selection.missing_capability
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
    (_task, needs_tools, vision, level, pinned_provider, model_id, sticky, benched) = key[:8]
    needs_json, structured = key[8:10]
    forms = key[11]
    hints: list[str] = []
    usable: list[ProviderPlan] = []
    for entry in plan.providers:
        if pinned_provider and entry.provider.name != pinned_provider:
            continue
        if entry.pairs is None:
            if entry.hint and entry.provider.in_process:
                hints.insert(0, entry.hint)  # works offline and needs no account: first
            elif entry.hint:
                hints.append(entry.hint)
            continue
        usable.append(entry)
    if pinned_provider and not usable and pinned_provider in settings.providers:
        provider = settings.providers[pinned_provider]
        if provider.enabled and not provider.usable:
            hints.append(provider.hint())

    task = str(request.classification.task) if request.classification else "chat"
    missing: str | None = None
    if model_id is not None:
        ranked = _named(plan, usable, model_id)
        reasons = [
            f"{p.entry.id} was asked for by name; {p.provider.name} is #{p.p_index + 1} "
            "in provider order"
            for p in ranked
        ]
    else:
        needs = Needs(tools=needs_tools, response_format=needs_json, media=forms)
        pairs, lacking = capable_pairs(
            [p for entry in usable for p in entry.pairs or () if not p.excluded], needs
        )
        if not pairs and lacking:
            missing, capability_hints = explain_missing(
                lacking, structured=structured, unusable_hints=hints
            )
            hints[:] = capability_hints
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
    return _Selection(tuple(candidates), tuple(hints), tuple(not_free), missing)


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
                free=is_free_offer(provider, model_id, offer_free),
                context_known=facts.context_length is not None,
                assumed=False,
                pin=0,
                excluded=False,
            )
        )
    return named


def _listing(router: Router, request: RouteRequest) -> list[Candidate]:
    settings = router.settings
    if request.output == "embeddings":
        return embedding_listing(settings, router.local_models())
    from openmux.routing._classify import NON_TEXT_OUTPUT

    task = str(request.classification.task) if request.classification else "chat"
    if task in NON_TEXT_OUTPUT and task != "image":
        return []  # only a provider that declares the output serves these; none lists it
    plan = build_plan(settings, router.catalog, router.local_models(), include_unusable=True)
    # For image, the chat models that read images (generation needs an image provider).
    vision = task == "image"
    pairs = [
        pair
        for entry in plan.providers
        for pair in entry.pairs or ()
        if pair.entry.vision or not vision
    ]
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
    return [
        Candidate(pair.provider, pair.entry, reason, pair.free, pair.facts)
        for pair, reason in zip(ranked, reasons, strict=True)
    ]
