"""Selection's plan: every (provider, model) taking part, with what the catalog knows.

A plan is built once per (settings, catalog generation, local servers' models) and
cached; ranked lists are cached inside it per (task, needs, pins, benches) for
`LATENCY_TTL` seconds, after which latencies are read again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openmux.config import ModelEntry

if TYPE_CHECKING:
    from openmux.catalog import Catalog, ModelInfo, Resolved
    from openmux.config import ProviderSettings, Settings
    from openmux.health import HealthStore

LATENCY_TTL = 10.0
"""Seconds a ranked list is reused before observed latencies are read again."""


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
class Plan:
    settings: Settings
    catalog: Catalog
    providers: list[ProviderPlan]
    context_levels: list[int]
    cache: dict[tuple[Any, ...], tuple[float, Any]] = field(default_factory=dict)
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


_plans: OrderedDict[tuple[Any, ...], Plan] = OrderedDict()
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


def plan_for(
    settings: Settings, catalog: Catalog, local_models: Mapping[str, list[str] | None]
) -> Plan:
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


def rule_matches(
    rule: str, provider: ProviderSettings, model_id: str, canonical: str | None
) -> bool:
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
) -> Plan:
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
                    if rule_matches(rule, provider, entry.id, canonical)
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
                    free=is_free_offer(provider, entry.id, offer_free),
                    context_known=context is not None,
                    assumed=assumed,
                    pin=pin,
                    excluded=any(
                        rule_matches(rule, provider, entry.id, canonical)
                        for rule in settings.exclude
                    ),
                )
            )
        providers.append(ProviderPlan(provider, pairs, hint))
    return Plan(settings, catalog, providers, sorted(levels))


def is_free_offer(provider: ProviderSettings, model_id: str, offer_free: bool | None) -> bool:
    """Free by the provider's kind (a free tier, a `:free` id) or by the listing's zero
    price; never when the listing prices it."""
    return (provider.is_free(model_id) or offer_free is True) and offer_free is not False


def _known_models(provider: ProviderSettings, catalog: Catalog) -> list[ModelEntry]:
    models = list(provider.models)
    if not provider.models_configured:
        offers = catalog.offers_of(provider)
        if catalog.listing(provider) is not None:
            # A refreshed listing is the provider's word: table defaults it no longer
            # offers are gone, and must not keep their place at the top.
            models = [m for m in models if m.id in offers]
        seen = {m.id for m in models}
        models += [ModelEntry(i) for i in offers if i not in seen]
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
    if not found and provider.in_process:
        return None  # neither a runtime nor a model installed: the hint says what to install
    from openmux.catalog import is_embedding_id

    known = {m.id: m for m in provider.models}
    return [known.get(name, ModelEntry(name)) for name in found if not is_embedding_id(name)]
