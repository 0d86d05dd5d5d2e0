"""Which config files may send a stored key somewhere else than its provider's own host.

A provider's key (from the environment, `.env`, the keyring or the key file)
goes only to that provider's own host, or to a loopback address. Only the
user's own config (the user config dir's openmux.toml, or the file
`$OPENMUX_CONFIG` names) may point it elsewhere: an `openmux.toml` that merely
sits in the working directory, for example inside a cloned repository, may
not redirect a built-in provider, nor borrow a built-in's key variable for a
provider of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from openmux.config._providers import BUILTIN_BY_NAME, BUILTIN_PROVIDERS
from openmux.config._toml import CONFIG_FILE_NAME, is_loopback_url, user_config_dir


def is_project_local(config_file: Path, environ: Mapping[str, str]) -> bool:
    """Found in the working directory rather than chosen by the user."""
    if environ.get("OPENMUX_CONFIG"):
        return False
    own = user_config_dir() / CONFIG_FILE_NAME
    try:
        return config_file.resolve() != own.resolve()
    except OSError:
        return True


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def borrowed_key(name: str, merged: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(key owner, its host, the other host) when this table would send a key elsewhere."""
    spec = BUILTIN_BY_NAME.get(name)
    base_url = merged.get("base_url") or (spec.base_url if spec else "")
    if not base_url or "://" not in base_url or is_loopback_url(base_url):
        return None
    key_envs = set(
        (merged["api_key_env"],) if "api_key_env" in merged else (spec.key_envs if spec else ())
    )
    owners = [s for s in BUILTIN_PROVIDERS if s.key_envs and key_envs & set(s.key_envs)]
    if spec is not None and spec.key_envs and "api_key_env" not in merged:
        owners.append(spec)  # its stored key (keyring, key file) is looked up by its name
    host = _host(base_url)
    for owner in owners:
        if "://" in owner.base_url and _host(owner.base_url) != host:
            return owner.name, _host(owner.base_url), host
    return None


def trust_fix(config_file: Path) -> str:
    own = user_config_dir() / CONFIG_FILE_NAME
    return (
        f"if you trust this file, name it yourself (OPENMUX_CONFIG={config_file}) "
        f"or move the setting to {own}; otherwise delete the setting"
    )
