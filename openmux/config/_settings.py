"""Effective settings: built-in defaults < config file < .env < environment < constructor."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import SecretStr

from openmux._suggest import unknown_key_fix
from openmux.config._dotenv import read_dotenv
from openmux.config._schema import (
    IN_PROCESS,
    POLICIES,
    STRATEGIES,
    ClassifierSettings,
    Policy,
    ProviderSettings,
    SecretHeaders,
    Settings,
    Strategy,
    Timeouts,
)
from openmux.config._toml import (
    env_flag,
    getcwd,
    is_loopback_url,
    line_of,
    locate_config_file,
    read_config_file,
)
from openmux.config._trust import borrowed_key, is_project_local, trust_fix
from openmux.config._warnings import check_log_level, report_free_only_off
from openmux.errors import ConfigError
from openmux.privacy._settings import PrivacySettings, parse_privacy
from openmux.providers._table import (
    BUILTIN_BY_NAME,
    BUILTIN_PROVIDERS,
    PROTOCOLS,
    ModelEntry,
    ProviderSpec,
)

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
_PROVIDER_KEYS = {
    "protocol",
    "base_url",
    "api_key_env",
    "free",
    "enabled",
    "models",
    "embedding_models",
    "headers",
}
_TOP_KEYS = {"router", "timeouts", "providers", "privacy", "catalog", "classifier"}


class _Layer:
    """One source of settings with the shape of the config file."""

    def __init__(
        self,
        data: Mapping[str, Any],
        source: str,
        text: str | None = None,
        *,
        project_local: bool = False,
    ) -> None:
        self.data = data
        self.source = source
        self.text = text
        self.project_local = project_local

    def error(self, message: str, key: str, table: str | None, fix: str) -> ConfigError:
        line = line_of(self.text, key, table) if self.text is not None else None
        return ConfigError(message, source=self.source, line=line, fix=fix)

    def check_keys(self, table: Mapping[str, Any], known: set[str], where: str | None) -> None:
        for key in table:
            if key not in known:
                label = f"[{where}] " if where else ""
                fix = unknown_key_fix(key, known)
                raise self.error(f"unknown key {label}`{key}`", key, where, fix)

    def table(self, name: str) -> Mapping[str, Any]:
        value = self.data.get(name, {})
        if not isinstance(value, Mapping):
            raise self.error(f"`{name}` must be a table", name, None, f"write it as [{name}]")
        return value


def _expect(
    layer: _Layer, value: Any, kind: type | tuple[type, ...], key: str, table: str, fix: str
) -> Any:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise layer.error(f"[{table}] {key} must be a number, not {value!r}", key, table, fix)
    if not isinstance(value, kind):
        raise layer.error(
            f"[{table}] {key} has the wrong type ({type(value).__name__})", key, table, fix
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise layer.error(f"[{table}] {key} must be a finite number, not {value}", key, table, fix)
    return value


def _string_list(layer: _Layer, value: Any, key: str, table: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise layer.error(
            f"[{table}] {key} must be a list of strings", key, table, f'write {key} = ["a", "b"]'
        )
    return tuple(value)


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
        self.offline = False
        self.timeouts = Timeouts()
        self.privacy = PrivacySettings()
        self.api_keys: dict[str, tuple[SecretStr, str]] = {}
        self.sources: dict[str, str] = {}

    def apply(self, layer: _Layer) -> None:
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
            value = _expect(layer, router["max_attempts"], int, "max_attempts", "router", "a count")
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
                value = _expect(
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
            self.hedge_tools = _expect(
                layer, router["hedge_tools"], bool, "hedge_tools", "router", "true or false"
            )
            self.sources["router.hedge_tools"] = layer.source
        if "free_only" in router:
            self.free_only = _expect(
                layer, router["free_only"], bool, "free_only", "router", "true or false"
            )
            self.sources["router.free_only"] = layer.source
        if "providers" in router:
            self.allowed = _string_list(layer, router["providers"], "providers", "router")
            self.sources["router.providers"] = layer.source
        self._apply_selection(layer, router)
        self._apply_classifier(layer)
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
            number = _expect(layer, value, (int, float), key, "timeouts", "a number of seconds")
            if number <= 0:
                raise layer.error(
                    f"[timeouts] {key} must be positive", key, "timeouts", "use seconds > 0"
                )
            self.timeouts = replace(self.timeouts, **{key: float(number)})
            self.sources[f"timeouts.{key}"] = layer.source
        providers = layer.table("providers")
        for name, table in providers.items():
            self._apply_provider(layer, name, table)

    def _apply_selection(self, layer: _Layer, router: Mapping[str, Any]) -> None:
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
                setattr(self, key, _string_list(layer, router[key], key, "router"))
                self.sources[f"router.{key}"] = layer.source
        catalog = layer.table("catalog")
        layer.check_keys(catalog, _CATALOG_KEYS, "catalog")
        if "ttl_hours" in catalog:
            hours = _expect(
                layer, catalog["ttl_hours"], (int, float), "ttl_hours", "catalog", "hours"
            )
            if hours <= 0:
                raise layer.error(
                    "[catalog] ttl_hours must be positive", "ttl_hours", "catalog", "hours > 0"
                )
            self.catalog_ttl_hours = float(hours)
            self.sources["catalog.ttl_hours"] = layer.source

    def _apply_classifier(self, layer: _Layer) -> None:
        table = layer.table("classifier")
        layer.check_keys(table, _CLASSIFIER_KEYS, "classifier")
        changes: dict[str, Any] = {}
        if "second_tier" in table:
            changes["second_tier"] = _expect(
                layer, table["second_tier"], bool, "second_tier", "classifier", "true or false"
            )
        if "threshold" in table:
            threshold = _expect(
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
            model = _expect(layer, table["model"], str, "model", "classifier", 'model = "ID"')
            changes["model"] = model or None
        for key in changes:
            self.sources[f"classifier.{key}"] = layer.source
        self.classifier = replace(self.classifier, **changes)

    def _apply_provider(self, layer: _Layer, name: str, table: Any) -> None:
        where = f"providers.{name}"
        if not isinstance(table, Mapping):
            raise layer.error(
                f"`{where}` must be a table", name, "providers", f"write it as [{where}]"
            )
        layer.check_keys(table, _PROVIDER_KEYS, where)
        merged = {**self.overrides.get(name, {}), **table}
        if name not in self.specs:
            needed = (
                ("protocol",) if merged.get("protocol") in IN_PROCESS else ("protocol", "base_url")
            )
            missing = [k for k in needed if k not in merged]
            if missing:
                raise layer.error(
                    f"new provider [{where}] needs {' and '.join(missing)}",
                    "",
                    where,
                    'add protocol = "openai" and base_url = "http://host:port/v1"',
                )
        if "protocol" in table and table["protocol"] not in PROTOCOLS:
            raise layer.error(
                f"[{where}] protocol = {table['protocol']!r} is not supported",
                "protocol",
                where,
                f"use one of: {', '.join(PROTOCOLS)}",
            )
        if "base_url" in table:
            _expect(
                layer,
                table["base_url"],
                str,
                "base_url",
                where,
                'a URL like "http://127.0.0.1:8000/v1"',
            )
        for flag in ("free", "enabled"):
            if flag in table:
                _expect(layer, table[flag], bool, flag, where, "true or false")
        for key in ("models", "embedding_models"):
            if key in table:
                _string_list(layer, table[key], key, where)
        if "headers" in table and not (
            isinstance(table["headers"], Mapping)
            and all(isinstance(v, str) for v in table["headers"].values())
        ):
            raise layer.error(
                f"[{where}] headers must map names to strings",
                "headers",
                where,
                'headers = { X-Name = "value" }',
            )
        if name not in self.specs and merged["protocol"] not in IN_PROCESS:
            base_url = merged["base_url"]
            if "free" not in merged and not is_loopback_url(base_url):
                raise layer.error(
                    f"new remote provider [{where}] must say whether it is free",
                    "",
                    where,
                    "add free = true (a free tier) or free = false (paid)",
                )
        if layer.project_local:
            borrowed = borrowed_key(name, merged)
            if borrowed is not None:
                owner, own_host, other_host = borrowed
                raise layer.error(
                    f"[{where}] in a project's config file would send your {owner} key to "
                    f"{other_host} instead of {own_host}; refused",
                    "base_url" if "base_url" in table else "api_key_env",
                    where,
                    trust_fix(Path(layer.source)),
                )
        self.overrides[name] = merged
        for key in table:
            self.sources[f"{where}.{key}"] = layer.source

    def build(
        self, environ: Mapping[str, str], state_dir: Path | None, config_file: Path | None
    ) -> Settings:
        providers: dict[str, ProviderSettings] = {}
        names = list(self.specs) + [n for n in self.overrides if n not in self.specs]
        for name in names:
            providers[name] = self._provider(name, environ)
        if self.allowed is not None:
            unknown = [n for n in self.allowed if n not in providers]
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
            offline=self.offline,
            timeouts=self.timeouts,
            state_dir=state_dir,
            config_file=config_file,
            sources=MappingProxyType(dict(self.sources)),
            privacy=self.privacy,
        )

    def _provider(self, name: str, environ: Mapping[str, str]) -> ProviderSettings:
        spec = self.specs.get(name)
        override = self.overrides.get(name, {})
        base_url = override.get("base_url") or (spec.base_url if spec else "")
        if spec and spec.host_env and "base_url" not in override and environ.get(spec.host_env):
            base_url = _host_url(environ[spec.host_env], spec)
        protocol = override.get("protocol") or (spec.protocol if spec else "openai")
        key_envs: tuple[str, ...] = (
            (override["api_key_env"],)
            if "api_key_env" in override
            else (spec.key_envs if spec else ())
        )
        api_key = None
        if name in self.api_keys:
            api_key = self.api_keys[name][0]
        else:
            for env_name in key_envs:
                if environ.get(env_name):
                    api_key = SecretStr(environ[env_name])
                    break
            if api_key is None and key_envs:  # then the OS keyring and the encrypted key file
                from openmux.config._secrets import stored_key_with_source

                stored = stored_key_with_source(name)
                if stored is not None:
                    api_key = stored[0]
                    self.sources[f"providers.{name}.api_key"] = stored[1]
        from openmux._redact import register_secret, url_credentials

        if api_key is not None:
            register_secret(api_key.get_secret_value())
        for secret in url_credentials(base_url):
            register_secret(secret)
        for header in override.get("headers", {}).values():
            register_secret(header)
        local = bool(spec.local) if spec else False
        local = local or is_loopback_url(base_url) or protocol in IN_PROCESS
        if protocol in IN_PROCESS and not base_url:
            base_url = "in-process"
        free_default = spec.free if spec else local
        known = {m.id: m for m in spec.models} if spec else {}
        models = spec.models if spec else ()
        if "models" in override:
            models = tuple(known.get(m, ModelEntry(m)) for m in override["models"])
        embedding_models = tuple(
            override.get("embedding_models", spec.embedding_models if spec else ())
        )
        return ProviderSettings(
            name=name,
            protocol=protocol,
            base_url=base_url.rstrip("/"),
            free=bool(override.get("free", free_default or local)),
            enabled=bool(override.get("enabled", True)),
            local=local,
            api_key=api_key,
            key_env=key_envs[0] if key_envs else None,
            models=models,
            models_configured="models" in override,
            embedding_models=embedding_models,
            headers=SecretHeaders(
                {**(spec.headers if spec else {}), **override.get("headers", {})}
            ),
            tool_call_id_style=spec.tool_call_id_style if spec else "any",
            free_model_suffix=spec.free_model_suffix if spec else "",
            signup_url=spec.signup_url if spec else "",
            start_hint=spec.start_hint if spec else "",
        )


def _host_url(value: str, spec: ProviderSpec) -> str:
    """OLLAMA_HOST may be `host:port` or `0.0.0.0`: turn it into a URL this machine can call."""
    url = value.strip()
    if "://" not in url:
        url = f"http://{url}"
    url = url.replace("://0.0.0.0", "://127.0.0.1")
    if spec.protocol == "openai" and not url.rstrip("/").endswith("/v1"):
        url = url.rstrip("/") + "/v1"
    return url


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
        builder.apply(_Layer(data, str(config_file), text, project_local=project_local))
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
    if overrides:
        builder.apply(_Layer(overrides, "constructor arguments"))
    if offline is not None:
        builder.offline = offline
    for name, key in (api_keys or {}).items():
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
    state_dir = Path(env["OPENMUX_STATE_DIR"]) if env.get("OPENMUX_STATE_DIR") else None
    settings = builder.build(env, state_dir, config_file)
    if not settings.free_only:
        report_free_only_off(settings.sources.get("router.free_only", "default"))
    return settings


def builtin_spec(name: str) -> ProviderSpec | None:
    return BUILTIN_BY_NAME.get(name)
