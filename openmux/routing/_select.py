"""Selection: turn a classified request and the settings into a ranked candidate list.

    capability filter   tools bound -> tool-capable; image content -> vision;
                        estimated prompt tokens (chars / 4) <= context length;
                        [router] exclude; free_only (paid ones kept aside)
    rank                strategy "ordered": [router] prefer, then provider order.
                        strategy "best", by [router] policy:
                          quality   prefer > task quality > latency > availability > order
                          latency   prefer > latency > task quality > availability > order
                          balanced  prefer > quality minus a latency penalty > ... > order
                        the provider of the conversation's tool calls goes first (sticky)

Quality is the catalog's figure for the task (code, vision, else chat); a model the
catalog does not know is neutral (the median). Latency is the health store's p95
first-token time in doubling buckets (<= 1 s, 2 s, 4 s, ...), so noise never reorders
providers; under "quality" an unmeasured model counts as fast (worth trying). Benched
candidates keep their rank: the call step skips them without sending a byte and the
router may wait for the soonest one to return.

Every candidate carries a one-line reason. The work is cached: a plan per (settings,
catalog generation, local servers' models) holds every (provider, model) with its
catalog facts, and ranked lists are cached per (task, needs, pins, benches) for
`LATENCY_TTL` seconds, after which latencies are read again.
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage

from openmux.errors import ConfigError
from openmux.providers import ModelEntry
from openmux.routing._request import Candidate, RouteRequest

if TYPE_CHECKING:
    from openmux.catalog import Catalog, ModelInfo, Resolved
    from openmux.config import ProviderSettings, Settings
    from openmux.health import HealthStore

LATENCY_TTL = 10.0
"""Seconds a ranked list is reused before observed latencies are read again."""
_FAST_MS = 1000.0
_NEUTRAL_BUCKET = 1  # 1-2 s: what an unmeasured model is assumed to take (latency policy)
_BALANCED_LATENCY_WEIGHT = 0.08  # share of the quality range one latency doubling costs


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


def score_task(task: str, vision: bool) -> str:
    """The catalog task whose quality figure ranks this request."""
    if vision:
        return "vision"
    return "code" if task == "code" else "chat"


def latency_bucket(p95_ms: float | None, unknown: int) -> int:
    if p95_ms is None:
        return unknown
    if p95_ms <= _FAST_MS:
        return 0
    return min(8, 1 + int(math.log2(p95_ms / _FAST_MS)))


# ------------------------------------------------------------------------------- plan


@dataclass
class Pair:
    """One (provider, model) with what the catalog knows of it."""

    provider: ProviderSettings
    entry: ModelEntry
    facts: Resolved
    p_index: int
    m_index: int
    free: bool
    context_known: bool
    assumed: bool
    """Availability not confirmed (a llama.cpp server that was not probed)."""
    pin: int
    """Position in [router] prefer (len(prefer) when not preferred)."""
    excluded: bool
    static: dict[str, tuple[float, str]] = field(default_factory=dict)
    """Per scored task: quality and the reason's fixed part (filled on first use)."""

    @property
    def info(self) -> ModelInfo | None:
        return self.facts.info


@dataclass
class ProviderPlan:
    provider: ProviderSettings
    pairs: list[Pair] | None
    """None: not usable now (no key, server down); `hint` says what would help."""
    hint: str | None


@dataclass
class _Plan:
    settings: Settings
    catalog: Catalog
    providers: list[ProviderPlan]
    context_levels: list[int]
    cache: dict[tuple[Any, ...], tuple[float, _Selection]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[tuple[str, str], float | None] = field(default_factory=dict)
    latencies_until: float = 0.0

    def latency_reader(self, health: HealthStore, now: float) -> Callable[[Pair], float | None]:
        """p95 first-token times, read from the health store at most every LATENCY_TTL s."""
        if now >= self.latencies_until:
            self.latencies = {}
            self.latencies_until = now + LATENCY_TTL
        seen = self.latencies

        def read(pair: Pair) -> float | None:
            key = (pair.provider.name, pair.entry.id)
            if key in seen:
                return seen[key]
            value = seen[key] = health.p95_first_token_ms(*key)
            return value

        return read


@dataclass(frozen=True)
class _Selection:
    candidates: tuple[Candidate, ...]
    hints: tuple[str, ...]
    not_free: tuple[Candidate, ...]


_plans: OrderedDict[tuple[Any, ...], _Plan] = OrderedDict()
_plans_lock = threading.Lock()
_MAX_PLANS = 32
_MAX_SELECTIONS = 512


def clear_cache() -> None:
    """Forget every plan and ranked list (tests; after editing settings in place)."""
    with _plans_lock:
        _plans.clear()


def _local_signature(local_models: Mapping[str, list[str] | None]) -> tuple[Any, ...]:
    return tuple(
        (name, None if found is None else tuple(found)) for name, found in local_models.items()
    )


def _plan_for(
    settings: Settings, catalog: Catalog, local_models: Mapping[str, list[str] | None]
) -> _Plan:
    key = (id(settings), id(catalog), catalog.generation, _local_signature(local_models))
    with _plans_lock:
        plan = _plans.get(key)
        if plan is not None and plan.settings is settings:
            _plans.move_to_end(key)
            return plan
    plan = build_plan(settings, catalog, local_models)
    with _plans_lock:
        _plans[key] = plan
        if len(_plans) > _MAX_PLANS:
            _plans.popitem(last=False)
    return plan


def _matches(rule: str, provider: ProviderSettings, model_id: str, canonical: str | None) -> bool:
    """A prefer/exclude rule: a provider name, "PROVIDER:ID", an id, or a catalog model id."""
    if rule == provider.name:
        return True
    head, sep, tail = rule.partition(":")
    if sep and head == provider.name:
        return tail in (model_id, canonical)
    return rule in (model_id, canonical)


def build_plan(
    settings: Settings,
    catalog: Catalog,
    local_models: Mapping[str, list[str] | None],
    *,
    include_unusable: bool = False,
) -> _Plan:
    """Every provider taking part and its chat models with their catalog facts.

    With `include_unusable`, providers without a key or server list their known models
    too (`openmux models` shows what a key would add)."""
    providers: list[ProviderPlan] = []
    levels: set[int] = set()
    for p_index, provider in enumerate(settings.provider_order()):
        hint = None
        models: list[ModelEntry] | None
        if not provider.usable:
            if provider.is_free("") or provider.free_model_suffix or not settings.free_only:
                hint = provider.hint()
            models = _known_models(provider, catalog) if include_unusable else None
        else:
            models = _models_of(provider, local_models, catalog)
            if models is None:
                hint = provider.hint()
                if include_unusable:
                    models = _known_models(provider, catalog)
        if models is None:
            providers.append(ProviderPlan(provider, None, hint))
            continue
        assumed = (
            provider.local
            and not provider.models_configured
            and local_models.get(provider.name) is None
        )
        pairs = []
        for m_index, table_entry in enumerate(models):
            facts = catalog.resolve(provider, table_entry.id, table_entry)
            if not facts.chat:
                continue
            context = facts.context_length
            if context is not None:
                levels.add(context)
            entry = ModelEntry(
                table_entry.id,
                vision=facts.vision,
                tools=facts.tools,
                context_length=context or table_entry.context_length,
            )
            offer_free = facts.offer.free if facts.offer is not None else None
            canonical = facts.info.id if facts.info is not None else None
            pin = next(
                (
                    i
                    for i, rule in enumerate(settings.prefer)
                    if _matches(rule, provider, entry.id, canonical)
                ),
                len(settings.prefer),
            )
            pairs.append(
                Pair(
                    provider=provider,
                    entry=entry,
                    facts=facts,
                    p_index=p_index,
                    m_index=m_index,
                    free=provider.is_free(entry.id) and offer_free is not False,
                    context_known=context is not None,
                    assumed=assumed,
                    pin=pin,
                    excluded=any(
                        _matches(rule, provider, entry.id, canonical) for rule in settings.exclude
                    ),
                )
            )
        providers.append(ProviderPlan(provider, pairs, hint))
    return _Plan(settings, catalog, providers, sorted(levels))


def _known_models(provider: ProviderSettings, catalog: Catalog) -> list[ModelEntry]:
    models = list(provider.models)
    if not provider.models_configured:
        seen = {m.id for m in models}
        models += [ModelEntry(i) for i in catalog.offers_of(provider) if i not in seen]
    return models


def _models_of(
    provider: ProviderSettings, local_models: Mapping[str, list[str] | None], catalog: Catalog
) -> list[ModelEntry] | None:
    if provider.models_configured:
        return list(provider.models)
    if not provider.local:
        return _known_models(provider, catalog)
    found = local_models.get(provider.name)
    if found is None:
        return list(provider.models) if provider.protocol == "llamacpp" else None
    from openmux.catalog._model import is_embedding_id

    known = {m.id: m for m in provider.models}
    return [known.get(name, ModelEntry(name)) for name in found if not is_embedding_id(name)]


# -------------------------------------------------------------------------- selection


def select_candidates(
    request: RouteRequest,
    settings: Settings,
    local_models: Mapping[str, list[str] | None],
    *,
    catalog: Catalog | None = None,
    health: HealthStore | None = None,
) -> list[Candidate]:
    """Ranked candidates; also fills `request.hints` and `not_free` attempts."""
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

    if catalog is None:
        from openmux.catalog import catalog_for

        catalog = catalog_for(settings.state_dir)
    if health is None:
        from openmux.health import health_store

        health = health_store(settings.state_dir)
    catalog.maybe_refresh(settings, health)
    plan = _plan_for(settings, catalog, local_models)

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
    plan: _Plan, request: RouteRequest, health: HealthStore, key: tuple[Any, ...], need: int
) -> _Selection:
    settings = plan.settings
    _task, needs_tools, vision, level, pinned_provider, model_id, sticky, benched = key
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
        candidate = Candidate(pair.provider, pair.entry, reason)
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


def _named(plan: _Plan, usable: list[ProviderPlan], model_id: str) -> list[Pair]:
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


def quality_of(catalog: Catalog, pair: Pair, task_key: str) -> tuple[float, str]:
    """The pair's quality for a task and the phrase that explains it (cached on the pair)."""
    known = pair.static.get(task_key)
    if known is not None:
        return known
    score = catalog.score(pair.info, task_key)
    if score is not None:
        value, phrase = score.value, score.phrase()
    else:
        value = catalog.neutral.get(task_key, 0.0)
        phrase = (
            "is not in the catalog (neutral score)"
            if pair.info is None
            else f"has no {task_key} score (neutral)"
        )
    known = (value, f"{pair.entry.id} {phrase}, {'free' if pair.free else 'paid'}")
    pair.static[task_key] = known
    return known


def rank(
    catalog: Catalog,
    settings: Settings,
    pairs: list[Pair],
    task: str,
    latency: Callable[[Pair], float | None],
    benched: frozenset[tuple[str, str]] = frozenset(),
    *,
    needs_tools: bool = False,
    vision: bool = False,
    long_context: int = 0,
    keep_order: bool = False,
) -> tuple[list[Pair], list[str]]:
    """Order `pairs` by the settings' strategy and policy; a reason for each."""
    task_key = score_task(task, vision)
    ordered = settings.strategy == "ordered" or keep_order
    policy = settings.policy
    low, high = catalog.ranges.get(task_key, (0.0, 1.0))
    span = (high - low) or 1.0
    rows: list[tuple[tuple[Any, ...], Pair, str, float | None]] = []
    # -- local quality (openmux.quality): the user's bench scores and votes come before the
    # catalog's published score, on the catalog's scale for the task; the reason says so.
    from openmux.quality import local_quality

    local = local_quality(task_key, settings.state_dir)
    for pair in pairs:
        quality, phrase = quality_of(catalog, pair, task_key)
        mine = local.get((pair.provider.name, pair.entry.id))
        if mine is not None:
            quality = mine.score(quality, low, high)
            phrase = mine.reason(phrase, pair.entry.id, pair.free)
        # -- end local quality
        p95 = latency(pair)
        if ordered:
            sort_key: tuple[Any, ...] = (pair.pin, pair.p_index, pair.m_index)
        elif policy == "latency":
            bucket = latency_bucket(p95, _NEUTRAL_BUCKET)
            sort_key = (pair.pin, bucket, -quality, pair.assumed, pair.p_index, pair.m_index)
        elif policy == "balanced":
            bucket = latency_bucket(p95, _NEUTRAL_BUCKET)
            value = (quality - low) / span - _BALANCED_LATENCY_WEIGHT * bucket
            sort_key = (pair.pin, -round(value, 6), pair.assumed, pair.p_index, pair.m_index)
        else:
            bucket = latency_bucket(p95, 0)
            sort_key = (pair.pin, -quality, bucket, pair.assumed, pair.p_index, pair.m_index)
        rows.append((sort_key, pair, phrase, p95))
    if not keep_order:
        rows.sort(key=lambda row: row[0])
    needs = [
        label
        for label, wanted in (
            ("tool-capable", needs_tools),
            ("vision", vision),
            (f"prompt over {long_context} tokens", long_context > 0),
        )
        if wanted
    ]
    head = f"{task} ({', '.join(needs)}): " if needs else f"{task}: "
    prefer = settings.prefer
    reasons = []
    for rank_no, (_, pair, phrase, p95) in enumerate(rows, start=1):
        reason = head + phrase + ", " + _health_phrase(pair, benched)
        reason += f", p95 {p95 / 1000:.1f} s" if p95 is not None else ", no latency yet"
        if pair.pin < len(prefer):
            reason += f", preferred ({prefer[pair.pin]})"
        if ordered:
            reason += f", #{rank_no} in provider order"
        reasons.append(reason)
    return [row[1] for row in rows], reasons


def _health_phrase(pair: Pair, benched: frozenset[tuple[str, str]]) -> str:
    name = pair.provider.name
    if benched and ((name, pair.entry.id) in benched or (name, "*") in benched):
        return "benched (skipped until it recovers)"
    if pair.assumed:
        return "server not probed"
    return "healthy"
