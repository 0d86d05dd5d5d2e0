"""`[providers.NAME]` tables: checked against the built-in table, then made ProviderSettings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from openmux._redact import redact
from openmux.config._layer import Layer, expect, string_list
from openmux.config._providers import (
    DEFAULT_MEDIA_WIRES,
    PROTOCOLS,
    MediaKind,
    MediaModel,
    ModelEntry,
    ProviderSpec,
)
from openmux.config._schema import IN_PROCESS, ProviderSettings, SecretHeaders
from openmux.config._toml import is_loopback_url
from openmux.config._trust import borrowed_key, trust_fix
from openmux.errors import ConfigError

_MEDIA_KEYS: dict[str, MediaKind] = {
    "image_models": "image",
    "speech_models": "speech",
    "transcription_models": "transcription",
}
PROVIDER_KEYS = {
    "protocol",
    "base_url",
    "api_key_env",
    "free",
    "enabled",
    "models",
    "embedding_models",
    "headers",
    "limits",
    *_MEDIA_KEYS,
}
LIMIT_KEYS = ("rpm", "rpd", "tpm", "tpd")
"""Counted free-tier limits: requests and tokens per minute and per day."""


def merge_provider_table(
    layer: Layer,
    name: str,
    table: Any,
    known: Mapping[str, ProviderSpec],
    current: Mapping[str, Any],
) -> dict[str, Any]:
    """`[providers.NAME]` checked and merged over what earlier layers set for it."""
    where = f"providers.{name}"
    if not isinstance(table, Mapping):
        raise layer.error(f"`{where}` must be a table", name, "providers", f"write it as [{where}]")
    layer.check_keys(table, PROVIDER_KEYS, where)
    merged = {**current, **table}
    if name not in known:
        needed = ("protocol",) if merged.get("protocol") in IN_PROCESS else ("protocol", "base_url")
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
        expect(layer, table["base_url"], str, "base_url", where, _URL_FIX)
        if merged.get("protocol") not in IN_PROCESS:
            problem = base_url_problem(table["base_url"])
            if problem is not None:
                message = f"[{where}] base_url = {redact(table['base_url'])!r} {problem}"
                raise layer.error(message, "base_url", where, _URL_FIX)
    for flag in ("free", "enabled"):
        if flag in table:
            expect(layer, table[flag], bool, flag, where, "true or false")
    for key in ("models", "embedding_models", *_MEDIA_KEYS):
        if key in table:
            string_list(layer, table[key], key, where)
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
    if "limits" in table:
        problem = limits_problem(table["limits"])
        if problem is not None:
            raise layer.error(
                f"[{where}] {problem}", "limits", where, "limits = { rpm = 20, rpd = 50 }"
            )
    if name not in known and merged["protocol"] not in IN_PROCESS:
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
    return merged


_URL_FIX = 'a URL like "http://127.0.0.1:8000/v1"'


def base_url_problem(url: str) -> str | None:
    """What keeps `url` from being a provider's address (None when nothing): an http(s)
    scheme, a host and a valid port; no query or fragment, which would swallow the
    request path appended to it."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is no number or out of range
    except ValueError as exc:
        return f"is not a URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return "is not an http(s) URL"
    if not parts.hostname:
        return "names no host"
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        return "has a query or fragment (?... or #...), which the request path would follow"
    return None


def limits_problem(value: Any) -> str | None:
    """What is wrong with a `limits` table (None when nothing): known keys, whole numbers,
    `shared` true or false, `reset` "utc" or "pacific"."""
    if not isinstance(value, Mapping):
        return "limits must be a table"
    for key, item in value.items():
        if key in LIMIT_KEYS:
            if isinstance(item, bool) or not isinstance(item, int) or item < 0:
                return f"limits.{key} must be a whole number >= 0, not {item!r}"
        elif key == "shared":
            if not isinstance(item, bool):
                return "limits.shared must be true or false"
        elif key == "reset":
            if item not in ("utc", "pacific"):
                return 'limits.reset must be "utc" or "pacific"'
        else:
            return f"unknown limit {key!r}; use {', '.join(LIMIT_KEYS)}, shared or reset"
    return None


def provider_settings(
    name: str,
    spec: ProviderSpec | None,
    override: Mapping[str, Any],
    environ: Mapping[str, str],
    given_key: SecretStr | None,
    sources: dict[str, str],
) -> ProviderSettings:
    """The provider as this process will use it; its key from `given_key` or where it is kept."""
    base_url = override.get("base_url") or (spec.base_url if spec else "")
    if spec and spec.host_env and "base_url" not in override and environ.get(spec.host_env):
        base_url = host_url(environ[spec.host_env], spec)
    protocol = override.get("protocol") or (spec.protocol if spec else "openai")
    key_envs: tuple[str, ...] = (
        (override["api_key_env"],) if "api_key_env" in override else (spec.key_envs if spec else ())
    )
    api_key = None if given_key is None else _usable_key(given_key.get_secret_value(), None, name)
    if given_key is None:
        for env_name in key_envs:
            api_key = _usable_key(environ.get(env_name, ""), env_name, name)
            if api_key is not None:
                break
        if api_key is None and key_envs:  # then the OS keyring and the encrypted key file
            from openmux.config._secrets import stored_key_with_source

            stored = stored_key_with_source(name)
            if stored is not None:
                api_key = stored[0]
                sources[f"providers.{name}.api_key"] = stored[1]
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
    # Free is the provider's kind, never its address: a built-in (OpenRouter, say) pointed at
    # a local proxy or tunnel still charges for its paid models.
    free_default = spec.free if spec else local
    known = {m.id: m for m in spec.models} if spec else {}
    models = spec.models if spec else ()
    if "models" in override:
        models = tuple(known.get(m, ModelEntry(m)) for m in override["models"])
    embedding_models = tuple(
        override.get("embedding_models", spec.embedding_models if spec else ())
    )
    base_url, missing_envs = _filled_url(base_url, spec, environ)
    if missing_envs:
        api_key = None  # unusable until every part of its URL is known
    return ProviderSettings(
        name=name,
        protocol=protocol,
        base_url=base_url.rstrip("/"),
        free=bool(override.get("free", free_default)),
        enabled=bool(override.get("enabled", True)),
        local=local,
        api_key=api_key,
        key_envs=key_envs,
        host_env=spec.host_env if spec else None,
        docs=spec.docs if spec else "",
        key_env=key_envs[0] if key_envs else None,
        models=models,
        models_configured="models" in override,
        limits=MappingProxyType(dict(override.get("limits", {}))),
        embedding_models=embedding_models,
        media_models=_media_models(spec, override),
        url_envs=spec.url_envs if spec else {},
        headers=SecretHeaders({**(spec.headers if spec else {}), **override.get("headers", {})}),
        tool_call_id_style=spec.tool_call_id_style if spec else "any",
        free_model_suffix=spec.free_model_suffix if spec else "",
        signup_url=spec.signup_url if spec else "",
        start_hint=spec.start_hint if spec else "",
    )


def _usable_key(value: str, variable: str | None, provider: str) -> SecretStr | None:
    """The key without surrounding whitespace (a file's last line break, say), None for
    none; ConfigError naming the variable (None: constructor `api_keys`), never the key,
    when it cannot go in an HTTP header as it is."""
    from openmux.config._secret_text import SecretsError, validate_key_text

    if not value.strip():
        return None
    try:
        return SecretStr(validate_key_text(value))
    except SecretsError as exc:
        if variable is None:
            raise ConfigError(
                f"api_keys[{provider!r}] is not a usable key: {exc}",
                source="constructor arguments",
                fix="pass the key alone",
            ) from None
        raise ConfigError(
            f"{variable} is not a usable key: {exc}",
            fix=f"set {variable} (in the environment or .env) to the key alone",
        ) from None


def host_url(value: str, spec: ProviderSpec) -> str:
    """OLLAMA_HOST may be `host:port` or `0.0.0.0`: turn it into a URL this machine can call."""
    url = value.strip()
    if "://" not in url:
        url = f"http://{url}"
    url = url.replace("://0.0.0.0", "://127.0.0.1")
    if spec.protocol == "openai" and not url.rstrip("/").endswith("/v1"):
        url = url.rstrip("/") + "/v1"
    return url


def _media_models(spec: ProviderSpec | None, override: Mapping[str, Any]) -> tuple[MediaModel, ...]:
    """The table's media models; a configured list replaces that kind's (ids the table knows
    keep its wire format, others speak OpenAI's images and audio endpoints)."""
    models = list(spec.media_models) if spec else []
    for key, kind in _MEDIA_KEYS.items():
        if key not in override:
            continue
        known = {m.id: m for m in models if m.makes == kind}
        models = [m for m in models if m.makes != kind] + [
            known.get(model_id, MediaModel(model_id, kind, DEFAULT_MEDIA_WIRES[kind]))
            for model_id in override[key]
        ]
    return tuple(models)


def _filled_url(
    base_url: str, spec: ProviderSpec | None, environ: Mapping[str, str]
) -> tuple[str, list[str]]:
    """base_url with its `{placeholders}` filled from the environment; the variables missing."""
    missing = []
    for placeholder, env_name in (spec.url_envs if spec else {}).items():
        token = "{" + placeholder + "}"
        if token not in base_url:
            continue
        value = environ.get(env_name, "").strip()
        if value:
            base_url = base_url.replace(token, value)
        else:
            missing.append(env_name)
    return base_url, missing
