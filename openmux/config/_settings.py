"""Effective settings: built-in defaults < config file < .env < environment < constructor."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import SecretStr

from openmux.config._cache import CacheSettings, parse_cache
from openmux.config._dotenv import read_dotenv
from openmux.config._layer import Layer, expect, string_list
from openmux.config._privacy import PrivacySettings, parse_privacy
from openmux.config._provider_tables import merge_provider_table, provider_settings
from openmux.config._providers import (
    BUILTIN_BY_NAME,
    BUILTIN_PROVIDERS,
    RETIRED_PROVIDERS,
    ProviderSpec,
)
from openmux.config._schema import (
    POLICIES,
    STRATEGIES,
    ClassifierSettings,
    Policy,
    ProviderSettings,
    Settings,
    Strategy,
    Timeouts,
)
from openmux.config._state import check_state_url, sqlite_state_dir
from openmux.config._toml import (
    env_flag,
    getcwd,
    locate_config_file,
    read_config_file,
)
from openmux.config._trust import is_project_local
from openmux.config._warnings import check_log_level, report_free_only_off
from openmux.errors import ConfigError

_ROUTER_KEYS = {
    "providers",
    "strategy",
    "free_only",
    "max_attempts",
    "hedge_after_ms",
    "hedge_tools",
    "policy",
    "prefer",
    "exclude",
}
_CATALOG_KEYS = {"ttl_hours"}
_CLASSIFIER_KEYS = {"second_tier", "threshold", "model"}
_TIMEOUT_KEYS = {"connect", "first_token", "total"}
_STATE_KEYS = {"url"}
_LONGEST_TIMEOUT_S = 86400
_TOP_KEYS = {
    *("router", "timeouts", "providers", "privacy", "catalog", "classifier", "state", "cache"),
}


class _Builder:
    def __init__(self) -> None:
        self.specs: dict[str, ProviderSpec] = {spec.name: spec for spec in BUILTIN_PROVIDERS}
        self.overrides: dict[str, dict[str, Any]] = {}
        self.allowed: tuple[str, ...] | None = None
        self.strategy: Strategy = "best"
        self.free_only = True
        self.max_attempts = 8
        self.hedging = True
        self.hedge_after_ms: float | None = None
        self.hedge_tools = False
        self.policy: Policy = "quality"
        self.prefer: tuple[str, ...] = ()
        self.exclude: tuple[str, ...] = ()
        self.catalog_ttl_hours = 24.0
        self.classifier = ClassifierSettings()
        self.state_url: str | None = None
        self.cache = CacheSettings()
        self.offline = False
        self.timeouts = Timeouts()
        self.privacy = PrivacySettings()
        self.api_keys: dict[str, tuple[SecretStr, str]] = {}
        self.sources: dict[str, str] = {}

    def apply(self, layer: Layer) -> None:
        layer.check_keys(layer.data, _TOP_KEYS, None)
        router = layer.table("router")
        layer.check_keys(router, _ROUTER_KEYS, "router")
        if "strategy" in router:
            if router["strategy"] not in STRATEGIES:
                raise layer.error(
                    f"[router] strategy = {router['strategy']!r} is not a strategy",
                    "strategy",
                    "router",
                    'use "best" or "ordered"',
                )
            self.strategy = router["strategy"]
            self.sources["router.strategy"] = layer.source
        if "max_attempts" in router:
            value = expect(layer, router["max_attempts"], int, "max_attempts", "router", "a count")
            if value < 1:
                raise layer.error(
                    "[router] max_attempts must be at least 1",
                    "max_attempts",
                    "router",
                    "use 1 or more",
                )
            self.max_attempts = value
            self.sources["router.max_attempts"] = layer.source
        if "hedge_after_ms" in router:
            value = router["hedge_after_ms"]
            if value is False:
                self.hedging = False
            else:
                value = expect(
                    layer, value, (int, float), "hedge_after_ms", "router", "milliseconds or false"
                )
                if value <= 0:
                    raise layer.error(
                        "[router] hedge_after_ms must be positive",
                        "hedge_after_ms",
                        "router",
                        "milliseconds > 0, or false to switch hedging off",
                    )
                self.hedging, self.hedge_after_ms = True, float(value)
            self.sources["router.hedge_after_ms"] = layer.source
        if "hedge_tools" in router:
            self.hedge_tools = expect(
                layer, router["hedge_tools"], bool, "hedge_tools", "router", "true or false"
            )
            self.sources["router.hedge_tools"] = layer.source
        if "free_only" in router:
            self.free_only = expect(
                layer, router["free_only"], bool, "free_only", "router", "true or false"
            )
            self.sources["router.free_only"] = layer.source
        if "providers" in router:
            self.allowed = string_list(layer, router["providers"], "providers", "router")
            self.sources["router.providers"] = layer.source
        self._apply_selection(layer, router)
        self._apply_classifier(layer)
        self._apply_state(layer)
        self.cache = parse_cache(layer, self.cache, self.sources)
        privacy = layer.table("privacy")
        self.privacy = parse_privacy(
            privacy,
            current=self.privacy,
            error=lambda message, key, fix: layer.error(message, key, "privacy", fix),
            base_dir=Path(layer.source).parent if layer.text is not None else None,
        )
        for key in privacy:
            self.sources[f"privacy.{key}"] = layer.source
        timeouts = layer.table("timeouts")
        layer.check_keys(timeouts, _TIMEOUT_KEYS, "timeouts")
        for key, value in timeouts.items():
            number = expect(layer, value, (int, float), key, "timeouts", "a number of seconds")
            if number <= 0:
                raise layer.error(
                    f"[timeouts] {key} must be positive", key, "timeouts", "use seconds > 0"
                )
            if number > _LONGEST_TIMEOUT_S:  # longer overflows the clocks that time the wait
                raise layer.error(
                    f"[timeouts] {key} = {number:g} s is more than a day",
                    key,
                    "timeouts",
                    f"use seconds > 0 and at most {_LONGEST_TIMEOUT_S}",
                )
            self.timeouts = replace(self.timeouts, **{key: float(number)})
            self.sources[f"timeouts.{key}"] = layer.source
        providers = layer.table("providers")
        for name, table in providers.items():
            self._apply_provider(layer, name, table)

    def _apply_selection(self, layer: Layer, router: Mapping[str, Any]) -> None:
        """[router] policy/prefer/exclude and [catalog] ttl_hours (model selection)."""
        if "policy" in router:
            if router["policy"] not in POLICIES:
                raise layer.error(
                    f"[router] policy = {router['policy']!r} is not a policy",
                    "policy",
                    "router",
                    'use "quality", "latency" or "balanced"',
                )
            self.policy = router["policy"]
            self.sources["router.policy"] = layer.source
        for key in ("prefer", "exclude"):
            if key in router:
                setattr(self, key, string_list(layer, router[key], key, "router"))
                self.sources[f"router.{key}"] = layer.source
        catalog = layer.table("catalog")
        layer.check_keys(catalog, _CATALOG_KEYS, "catalog")
        if "ttl_hours" in catalog:
            hours = expect(
                layer, catalog["ttl_hours"], (int, float), "ttl_hours", "catalog", "hours"
            )
            if hours <= 0:
                raise layer.error(
                    "[catalog] ttl_hours must be positive", "ttl_hours", "catalog", "hours > 0"
                )
            self.catalog_ttl_hours = float(hours)
            self.sources["catalog.ttl_hours"] = layer.source

    def _apply_classifier(self, layer: Layer) -> None:
        table = layer.table("classifier")
        layer.check_keys(table, _CLASSIFIER_KEYS, "classifier")
        changes: dict[str, Any] = {}
        if "second_tier" in table:
            changes["second_tier"] = expect(
                layer, table["second_tier"], bool, "second_tier", "classifier", "true or false"
            )
        if "threshold" in table:
            threshold = expect(
                layer, table["threshold"], (int, float), "threshold", "classifier", "0 to 1"
            )
            if not 0 <= threshold <= 1:
                raise layer.error(
                    f"[classifier] threshold = {threshold} is not a confidence",
                    "threshold",
                    "classifier",
                    "a number from 0 to 1, e.g. 0.6",
                )
            changes["threshold"] = float(threshold)
        if "model" in table:
            model = expect(layer, table["model"], str, "model", "classifier", 'model = "ID"')
            changes["model"] = model or None
        for key in changes:
            self.sources[f"classifier.{key}"] = layer.source
        self.classifier = replace(self.classifier, **changes)

    def _apply_state(self, layer: Layer) -> None:
        table = layer.table("state")
        layer.check_keys(table, _STATE_KEYS, "state")
        if "url" in table:
            url = expect(layer, table["url"], str, "url", "state", 'url = "redis://HOST:6379/0"')
            self.state_url = check_state_url(url, layer.source) if url else None
            self.sources["state.url"] = layer.source

    def _apply_provider(self, layer: Layer, name: str, table: Any) -> None:
        if name in RETIRED_PROVIDERS and not (isinstance(table, Mapping) and "base_url" in table):
            raise layer.error(
                f"[providers.{name}]: {RETIRED_PROVIDERS[name]}",
                "",
                f"providers.{name}",
                f"remove the [providers.{name}] table",
            )
        self.overrides[name] = merge_provider_table(
            layer, name, table, self.specs, self.overrides.get(name, {})
        )
        for key in table:
            self.sources[f"providers.{name}.{key}"] = layer.source

    def build(
        self, environ: Mapping[str, str], state_dir: Path | None, config_file: Path | None
    ) -> Settings:
        providers: dict[str, ProviderSettings] = {}
        names = list(self.specs) + [n for n in self.overrides if n not in self.specs]
        for name in names:
            providers[name] = self._provider(name, environ)
        if self.allowed is not None:
            unknown = [n for n in self.allowed if n not in providers]
            retired = [n for n in unknown if n in RETIRED_PROVIDERS]
            if retired:
                raise ConfigError(
                    f"[router] providers names {retired[0]!r}: {RETIRED_PROVIDERS[retired[0]]}",
                    source=self.sources.get("router.providers"),
                    fix=f"remove {retired[0]!r} from [router] providers",
                )
            if unknown:
                raise ConfigError(
                    f"[router] providers names unknown provider(s): {', '.join(unknown)}",
                    source=self.sources.get("router.providers"),
                    fix=f"known providers: {', '.join(providers)}",
                )
        return Settings(
            providers=MappingProxyType(providers),
            allowed=self.allowed,
            strategy=self.strategy,
            free_only=self.free_only,
            max_attempts=self.max_attempts,
            hedging=self.hedging,
            hedge_after_ms=self.hedge_after_ms,
            hedge_tools=self.hedge_tools,
            policy=self.policy,
            prefer=self.prefer,
            exclude=self.exclude,
            catalog_ttl_hours=self.catalog_ttl_hours,
            classifier=self.classifier,
            state_url=self.state_url,
            offline=self.offline,
            timeouts=self.timeouts,
            state_dir=state_dir,
            config_file=config_file,
            sources=MappingProxyType(dict(self.sources)),
            privacy=self.privacy,
            cache=self.cache,
        )

    def _provider(self, name: str, environ: Mapping[str, str]) -> ProviderSettings:
        given = self.api_keys.get(name)
        return provider_settings(
            name,
            self.specs.get(name),
            self.overrides.get(name, {}),
            environ,
            given[0] if given else None,
            self.sources,
        )


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    api_keys: Mapping[str, str | SecretStr] | None = None,
    offline: bool | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Merge every source of settings; raise ConfigError naming the source and fix."""
    real_env = os.environ if environ is None else environ
    cwd = cwd or getcwd()
    builder = _Builder()
    config_file = locate_config_file(real_env, cwd)
    if config_file is not None:
        data, text = read_config_file(config_file)
        project_local = is_project_local(config_file, real_env)
        builder.apply(Layer(data, str(config_file), text, project_local=project_local))
    dotenv, dotenv_file = read_dotenv(cwd)
    env: dict[str, str] = {**dotenv, **real_env}
    free_only = env_flag(env, "OPENMUX_FREE_ONLY")
    if free_only is not None:
        builder.free_only = free_only
        from_dotenv = "OPENMUX_FREE_ONLY" not in real_env
        builder.sources["router.free_only"] = (
            f"{dotenv_file} (.env)" if from_dotenv else "environment"
        )
    check_log_level(env)
    builder.offline = bool(env_flag(env, "OPENMUX_OFFLINE"))
    if env.get("OPENMUX_STATE_URL"):
        builder.state_url = check_state_url(env["OPENMUX_STATE_URL"], "OPENMUX_STATE_URL")
        builder.sources["state.url"] = "environment"
    if overrides:
        builder.apply(Layer(overrides, "constructor arguments"))
    if offline is not None:
        builder.offline = offline
    for name, key in (api_keys or {}).items():
        if name in RETIRED_PROVIDERS and name not in builder.overrides:
            raise ConfigError(
                f"api_keys names {name!r}: {RETIRED_PROVIDERS[name]}",
                source="constructor arguments",
                fix=f"drop the {name!r} key",
            )
        if name not in builder.specs and name not in builder.overrides:
            raise ConfigError(
                f"api_keys names an unknown provider {name!r}",
                source="constructor arguments",
                fix=f"use a provider id: {', '.join(builder.specs)}",
            )
        builder.api_keys[name] = (
            key if isinstance(key, SecretStr) else SecretStr(key),
            "constructor",
        )
    state_dir = (
        Path(env["OPENMUX_STATE_DIR"])
        if env.get("OPENMUX_STATE_DIR")
        else sqlite_state_dir(builder.state_url)
    )
    settings = builder.build(env, state_dir, config_file)
    if not settings.free_only:
        report_free_only_off(settings.sources.get("router.free_only", "default"))
    return settings


def builtin_spec(name: str) -> ProviderSpec | None:
    return BUILTIN_BY_NAME.get(name)
