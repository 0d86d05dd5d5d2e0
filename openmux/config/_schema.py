"""The shape of effective settings: what `load_settings` returns."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from pydantic import SecretStr

from openmux.config._cache import CacheSettings
from openmux.config._privacy import PrivacySettings
from openmux.config._providers import ProviderSpec

# Protocols that run the model inside this process: no URL, always local and free.
IN_PROCESS = frozenset({"llamacpp", "transformers"})

Strategy = Literal["best", "ordered"]
STRATEGIES = ("best", "ordered")
Policy = Literal["quality", "latency", "balanced"]
POLICIES = ("quality", "latency", "balanced")


class SecretHeaders(Mapping[str, str]):
    """Extra request headers: readable by the adapters, masked in every repr.

    Headers such as `Authorization` or `cf-aig-authorization` carry credentials,
    so neither `repr(settings)` nor `vars(llm)` may show their values.
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{name!r}: '***'" for name in self._values) + "}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `first_token` also bounds each later wait for a stream's next piece of
    data. Keep-alive comments are not tokens (see the reliability docs)."""

    connect: float = 3.0
    first_token: float = 20.0
    total: float = 120.0


@dataclass(frozen=True)
class ProviderSettings(ProviderSpec):
    """One provider as this process will use it: the table's fields, merged with the
    user's configuration, plus what only a running process knows."""

    enabled: bool = True
    api_key: SecretStr | None = field(default=None, repr=False)
    key_env: str | None = None
    """The variable the key came from, or would (the first of `key_envs`)."""
    models_configured: bool = False
    """Whether the configuration lists the models (then servers are not asked)."""
    limits: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    """`[providers.X] limits`: free-tier limits over the built-in table's (openmux.quotas)."""

    def __repr__(self) -> str:
        # base_url may carry credentials (https://user:password@host): mask them too.
        from openmux._redact import redact

        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
        return redact(f"ProviderSettings({shown})")

    def is_free(self, model: str) -> bool:
        return self.free or bool(self.free_model_suffix and model.endswith(self.free_model_suffix))

    @property
    def needs_key(self) -> bool:
        return self.key_env is not None and not self.local

    @property
    def usable(self) -> bool:
        """Enabled and, for a keyed remote provider, holding a key."""
        return self.enabled and (self.api_key is not None or not self.needs_key)

    @property
    def in_process(self) -> bool:
        """Runs inside this process (the bundled model): no server to start or reach."""
        return self.protocol in IN_PROCESS

    def hint(self) -> str:
        if self.needs_key and self.api_key is None and not (self.free or self.free_model_suffix):
            return (
                f"{self.name}: a paid provider; set {self.key_env} and free_only = false to use it"
            )
        if self.needs_key and self.api_key is None:
            where = f" (free key at {self.signup_url})" if self.signup_url else ""
            names = " and ".join((self.key_env or "", *self.url_envs.values()))
            return f"{self.name}: set {names}{where}"
        if self.local and self.start_hint:
            where = "" if self.in_process else f" at {self.base_url}"
            return f"{self.name}: {self.start_hint}{where}"
        return f"{self.name}: check that {self.base_url} answers"


@dataclass(frozen=True)
class ClassifierSettings:
    """`[classifier]`: the optional second tier (a chat model labels unsure requests)."""

    second_tier: bool = False
    threshold: float = 0.6
    """Ask the second tier below this confidence."""
    model: str | None = None
    """The model that answers ("ID" or "PROVIDER:ID"); default: the top chat candidate."""


@dataclass(frozen=True)
class Settings:
    providers: Mapping[str, ProviderSettings]
    allowed: tuple[str, ...] | None = None
    strategy: Strategy = "best"
    free_only: bool = True
    max_attempts: int = 8
    hedging: bool = True
    hedge_after_ms: float | None = None
    """None: adaptive (the candidate's p95 first-token time, at least 1.5 s; 5 s unobserved)."""
    hedge_tools: bool = False
    """Hedge requests with tools bound too (tools may have side effects)."""
    offline: bool = False
    timeouts: Timeouts = Timeouts()
    state_dir: Path | None = None
    config_file: Path | None = None
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    policy: Policy = "quality"
    """How `strategy = "best"` ranks: task quality, observed latency, or both."""
    prefer: tuple[str, ...] = ()
    """Models ("ID", "PROVIDER:ID") or provider names tried first, in this order."""
    exclude: tuple[str, ...] = ()
    """Models or providers never chosen automatically (an explicit model= still is)."""
    catalog_ttl_hours: float = 24.0
    classifier: ClassifierSettings = ClassifierSettings()
    state_url: str | None = field(default=None, repr=False)
    """`[state] url` / OPENMUX_STATE_URL (None: SQLite in `state_dir`); may hold a password."""
    cache: CacheSettings = field(default_factory=CacheSettings)
    """`[cache]`: the response cache (openmux.cache)."""

    def provider_order(self) -> tuple[ProviderSettings, ...]:
        """Providers taking part, in tie-break order."""
        return self._provider_order

    @cached_property
    def _provider_order(self) -> tuple[ProviderSettings, ...]:
        # Asked several times per request; settings never change once made.
        if self.allowed is not None:
            chosen = [self.providers[name] for name in self.allowed if name in self.providers]
        else:
            chosen = list(self.providers.values())
        return tuple(p for p in chosen if p.enabled and (p.local or not self.offline))
