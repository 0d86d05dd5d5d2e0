"""What routing asks of quotas: may this candidate take one more request, and what did
its answer (or its failure) teach us. Routing applies the verdicts; this module never
imports routing."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openmux._logging import get_logger
from openmux.quotas._learn import exhaustion_from_failure, readings_from_headers
from openmux.quotas._limits import BUILTIN_LIMITS, PROVIDER_WIDE, Limits, next_reset, table_limits
from openmux.quotas._openrouter_key import check_in_background
from openmux.quotas._store import Blocked, QuotaStore, quota_store
from openmux.quotas._usage import UsageLog, UsageRecord, usage_log

if TYPE_CHECKING:
    from openmux.config import ProviderSettings
    from openmux.providers import ProviderFailure

_log = get_logger("openmux.quotas")
_MAX_SCOPES = 4096


@dataclass(frozen=True)
class Spent:
    """A daily allowance is gone: bench until `until` (epoch s), the provider as a whole
    when `provider_wide` (an account-wide allowance nothing here counts)."""

    until: float
    reason: str
    provider_wide: bool = False


class QuotaGate:
    def __init__(self, state_dir: Path | None) -> None:
        self.store: QuotaStore = quota_store(state_dir)
        self.usage: UsageLog = usage_log(state_dir)
        self._scopes: dict[tuple[str, str], tuple[int, Mapping[str, Any], str, Limits]] = {}

    def scope(self, provider: ProviderSettings, model: str) -> tuple[str, Limits]:
        """The counter this model draws on and its limits: the table's row, what the
        provider revealed, then `[providers.X] limits` (which wins)."""
        key = (provider.name, model)
        generation = self.store.generation
        cached = self._scopes.get(key)
        if cached is not None and cached[0] == generation and cached[1] is provider.limits:
            return cached[2], cached[3]
        limits = table_limits(provider.name, model)
        override = dict(provider.limits)
        # A provider's own limits, where the table has none, bind it as a whole.
        shared = bool(
            override.get(
                "shared", limits.shared or (bool(override) and provider.name not in BUILTIN_LIMITS)
            )
        )
        scope = f"{provider.name}|{PROVIDER_WIDE if shared else model}"
        limits = replace(limits.merged(self.store.learned(scope)).merged(override), shared=shared)
        if limits.free_models_only and not provider.is_free(model):
            limits = Limits(reset=limits.reset, source=limits.source)  # paid models: no free limit
        if len(self._scopes) > _MAX_SCOPES:
            self._scopes.clear()
        self._scopes[key] = (generation, provider.limits, scope, limits)
        return scope, limits

    def over(self, provider: ProviderSettings, model: str, tokens: int = 0) -> Blocked | None:
        """What one more request would go over (nothing is counted)."""
        scope, limits = self.scope(provider, model)
        if not limits.any:
            return None
        return self.store.over(scope, limits, tokens)

    def headroom(self, provider: ProviderSettings, model: str) -> tuple[str, dict[str, int]]:
        """The model's counter and what is left now of each of its known limits."""
        scope, limits = self.scope(provider, model)
        if not limits.any:
            return scope, {}
        used = self.store.used(scope, limits)
        caps = {name: getattr(limits, name) for name in used}
        return scope, {
            name: max(0, cap - used[name]) for name, cap in caps.items() if cap is not None
        }

    def reserve(self, provider: ProviderSettings, model: str, tokens: int = 0) -> Blocked | None:
        """Count one request of about `tokens` prompt tokens, unless it would go over."""
        scope, limits = self.scope(provider, model)
        if not limits.any:
            return None
        return self.store.reserve(scope, limits, tokens)

    def count_cache_hit(self, provider: str, model: str, task: str) -> None:
        """An answer `provider:model` gave earlier was replayed from the response cache."""
        self.usage.record(UsageRecord(time.time(), provider, model, task, "ok", cached=True))

    def after_call(
        self,
        provider: ProviderSettings,
        model: str,
        *,
        task: str,
        status: str,
        latency_ms: float = 0.0,
        tokens_in: int = 0,
        tokens_out: int = 0,
        counted_tokens: int = 0,
        headers: Mapping[str, str] | None = None,
        failure: ProviderFailure | None = None,
        cached: bool = False,
    ) -> Spent | None:
        """Record the attempt and learn from it; a daily allowance found spent is returned."""
        now = time.time()
        self.usage.record(
            UsageRecord(
                now,
                provider.name,
                model,
                task,
                status,
                tokens_in,
                tokens_out,
                round(latency_ms, 2),
                cached,
            )
        )
        if status == "over_quota":
            return None
        scope, limits = self.scope(provider, model)
        if status == "ok" and limits.free_models_only and provider.api_key is not None:
            check_in_background(
                provider,
                lambda per_day: self._learn_daily(provider, model, per_day),
                str(self.store.path),
            )
        extra = tokens_in + tokens_out - counted_tokens
        if limits.any and extra > 0:
            self.store.add_tokens(scope, limits, extra, now)
        spent = self._learn_headers(provider, model, headers, now) if headers else None
        if failure is not None and failure.kind == "rate_limited":
            spent = self._learn_failure(provider, model, failure, now) or spent
        return spent

    def _learn_daily(self, provider: ProviderSettings, model: str, per_day: int) -> None:
        if "rpd" not in provider.limits:
            self.store.learn(self.scope(provider, model)[0], {"rpd": per_day})

    def _learn_headers(
        self, provider: ProviderSettings, model: str, headers: Mapping[str, str], now: float
    ) -> Spent | None:
        readings = readings_from_headers(provider.name, headers)
        if not readings:
            return None
        scope, limits = self.scope(provider, model)
        changes = {
            r.limit_name: r.limit
            for r in readings
            if r.limit is not None
            and r.limit != getattr(limits, r.limit_name)
            and r.limit_name not in provider.limits
        }
        if changes:
            self.store.learn(scope, changes)
            scope, limits = self.scope(provider, model)
        spent = None
        for reading in readings:
            if reading.limit is None or reading.remaining is None:
                continue
            self.store.raise_used(
                scope, limits, reading.limit_name, reading.limit - reading.remaining, now
            )
            if reading.remaining <= 0 and reading.limit_name in ("rpd", "tpd"):
                until = (
                    now + reading.reset_in if reading.reset_in else next_reset(now, limits.reset)
                )
                spent = Spent(until, f"{reading.limit_name} {reading.limit} used up")
        return spent

    def _learn_failure(
        self, provider: ProviderSettings, model: str, failure: ProviderFailure, now: float
    ) -> Spent | None:
        found = exhaustion_from_failure(provider.name, failure.detail, str(failure), now)
        if found is None:
            return None
        scope, limits = self.scope(provider, model)
        if found.limit is not None and found.limit_name not in provider.limits:
            self.store.learn(scope, {found.limit_name: found.limit})
            scope, limits = self.scope(provider, model)
        if not found.daily:
            wait = (
                found.retry_in
                if found.retry_in is not None
                else (found.until - now if found.until is not None else None)
            )
            if wait is not None and failure.retry_after is None:
                failure.retry_after = max(0.0, wait)
            return None
        limit = getattr(limits, found.limit_name)
        if limit is not None:
            self.store.raise_used(scope, limits, found.limit_name, limit, now)
        until = found.until or next_reset(now, limits.reset)
        return Spent(
            until,
            f"daily {found.limit_name} allowance used up",
            provider_wide=found.shared and limit is None,
        )


def log_over_quota(provider: str, model: str, blocked: Blocked) -> None:
    _log.info(
        "over quota: %s:%s %s (wait %.0f s)",
        provider,
        model,
        blocked.describe(),
        max(0.0, blocked.until - time.time()),
    )
