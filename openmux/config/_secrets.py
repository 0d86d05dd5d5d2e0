"""Stored provider keys: the OS keyring, an encrypted file, or a `.env` file.

Lookup order for a provider's key (see `load_settings`): constructor argument,
environment variable, `.env`, then the two stores kept here: the OS keyring
(`_keyring_store`) and the encrypted key file (`_keyfile`), both listed in the
key file. A process that finds no key file never imports `keyring`, so a lookup
costs one `stat` when nothing is stored, and a machine without a usable
keyring backend neither waits nor prompts.

The encrypted file needs its passphrase: ``$OPENMUX_KEYFILE_PASSPHRASE``, or
`unlock()` (the CLI prompts for it). Without one, its keys are simply not
found (and `key_locations` reports them as locked).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from openmux._logging import get_logger
from openmux._redact import register_secret
from openmux.config._dotenv_store import dotenv_path, remove_dotenv_key, write_dotenv_key
from openmux.config._keyfile import (
    PASSPHRASE_ENV,
    SOURCE_FILE,
    check_passphrase,
    current_passphrase,
    decrypt,
    editing_index,
    encrypt,
    keyfile_path,
    new_section,
    read_index,
    unlock,
)
from openmux.config._keyring_store import (
    SERVICE,
    SOURCE_KEYRING,
    KeyringStatus,
    backend_env,
    forget_backend,
    keyring_call,
    keyring_status,
)
from openmux.config._secret_text import SecretsError, mask, validate_key_text

__all__ = [
    "PASSPHRASE_ENV",
    "SOURCE_FILE",
    "SOURCE_KEYRING",
    "KeyLocation",
    "KeyringStatus",
    "SecretsError",
    "Store",
    "clear_cache",
    "dotenv_path",
    "key_locations",
    "keyfile_path",
    "keyring_status",
    "mask",
    "remove_dotenv_key",
    "remove_key",
    "set_key",
    "stored_key",
    "stored_key_with_source",
    "stored_providers",
    "unlock",
    "validate_key_text",
    "write_dotenv_key",
]

Store = Literal["keyring", "file", "dotenv"]

_log = get_logger("openmux.secrets")
_lock = threading.RLock()
_values: dict[tuple[Any, ...], tuple[SecretStr, str] | None] = {}
_warned: set[str] = set()


def clear_cache() -> None:
    with _lock:
        _values.clear()
        _warned.clear()
    forget_backend()


def _warn_once(message: str) -> None:
    """Settings are loaded many times per process; one damaged file is one warning."""
    with _lock:
        if message in _warned:
            return
        _warned.add(message)
    _log.warning("%s", message)


def _readable_index(path: Path) -> dict[str, Any]:
    """The key file for lookups: a damaged one holds no keys (and is reported once)."""
    try:
        return read_index(path)
    except SecretsError as exc:
        _warn_once(str(exc))
        return {}


def stored_providers() -> dict[str, list[str]]:
    """Provider id -> the stores ("keyring", "encrypted file") that list a key for it."""
    data = _readable_index(keyfile_path())
    found: dict[str, list[str]] = {}
    for name in data.get("keyring", []):
        found.setdefault(name, []).append(SOURCE_KEYRING)
    for name in data.get("encrypted", {}).get("keys", {}):
        found.setdefault(name, []).append(SOURCE_FILE)
    return found


# --------------------------------------------------------------------------- lookup


def _file_stamp(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def stored_key(provider_name: str) -> SecretStr | None:
    """The provider's key from the OS keyring or the encrypted file, else None. Never prompts."""
    found = stored_key_with_source(provider_name)
    return found[0] if found else None


def stored_key_with_source(provider_name: str) -> tuple[SecretStr, str] | None:
    """(key, "keyring" | "encrypted file"), cached per process until a store changes."""
    path = keyfile_path()
    stamp = _file_stamp(path)
    if stamp is None:
        return None  # nothing stored: the common case costs one stat
    passphrase = current_passphrase()
    cache_key = (
        provider_name,
        str(path),
        stamp,
        backend_env(),
        hashlib.sha256(passphrase.encode()).hexdigest() if passphrase else None,
    )
    with _lock:
        if cache_key in _values:
            return _values[cache_key]
    found = _lookup(provider_name, path, passphrase)
    if found is not None:
        register_secret(found[0].get_secret_value())
    with _lock:
        _values[cache_key] = found
    return found


def _lookup(name: str, path: Path, passphrase: str | None) -> tuple[SecretStr, str] | None:
    data = _readable_index(path)
    if name in data.get("keyring", []):
        try:
            value = keyring_call(lambda backend: backend.get_password(SERVICE, name))
        except SecretsError as exc:
            _warn_once(f"{name}: key not read from the keyring: {exc}")
            value = None
        if value:
            return SecretStr(value), SOURCE_KEYRING
    section = data.get("encrypted", {})
    if name in section.get("keys", {}):
        if not passphrase:
            _log.info(
                "%s: a key is in the encrypted file %s; set %s to use it",
                name,
                path,
                PASSPHRASE_ENV,
            )
            return None
        try:
            return SecretStr(decrypt(section, name, passphrase)), SOURCE_FILE
        except (SecretsError, KeyError) as exc:
            _warn_once(f"{name}: key not read from {path}: {exc}")
    return None


# --------------------------------------------------------------------------- writing


def set_key(
    provider_name: str,
    key: str | SecretStr,
    store: Literal["keyring", "file"],
    *,
    passphrase: str | None = None,
) -> Path | None:
    """Store a key; returns the file written (the key file), or None for the keyring."""
    value = validate_key_text(key.get_secret_value() if isinstance(key, SecretStr) else key)
    register_secret(value)
    if store == "keyring":
        read_index(keyfile_path())  # a damaged file: refuse before touching the keyring
        keyring_call(lambda backend: backend.set_password(SERVICE, provider_name, value))
        with editing_index() as data:
            data["keyring"] = sorted({*data.get("keyring", []), provider_name})
        return None
    if store == "file":
        secret = passphrase or current_passphrase()
        if not secret:
            raise SecretsError(f"the encrypted key file needs a passphrase (set {PASSPHRASE_ENV})")
        with editing_index() as data:
            section = dict(data.get("encrypted") or {})
            if section.get("keys"):
                check_passphrase(section, secret)  # one passphrase for every key
            else:
                section = new_section()
            token = encrypt(section, value, secret)
            section["keys"] = {**section.get("keys", {}), provider_name: token}
            data["encrypted"] = section
        unlock(secret)
        return keyfile_path()
    raise SecretsError(f"unknown store {store!r}")


def remove_key(provider_name: str, stores: tuple[str, ...] = ("keyring", "file")) -> list[str]:
    """Forget a stored key; returns the stores it was removed from."""
    removed: list[str] = []
    if _file_stamp(keyfile_path()) is None:
        return removed
    with editing_index() as data:
        names = list(data.get("keyring", []))
        if "keyring" in stores and provider_name in names:
            try:
                keyring_call(lambda backend: backend.delete_password(SERVICE, provider_name))
            except SecretsError as exc:
                if "not found" not in str(exc).lower():
                    _log.warning("%s: keyring entry not deleted: %s", provider_name, exc)
            names.remove(provider_name)
            data["keyring"] = names
            removed.append(SOURCE_KEYRING)
        section = data.get("encrypted", {})
        if "file" in stores and provider_name in section.get("keys", {}):
            section["keys"] = {k: v for k, v in section["keys"].items() if k != provider_name}
            data["encrypted"] = section
            removed.append(SOURCE_FILE)
    return removed


# --------------------------------------------------------------------------- where keys live


@dataclass(frozen=True)
class KeyLocation:
    """One place a provider's key was found. `masked` never holds the whole key."""

    provider: str
    source: str  # "environment", ".env", "keyring", "encrypted file"
    detail: str = ""  # the variable name, the file path, "locked"
    masked: str = ""


def key_locations(
    provider_name: str,
    key_envs: tuple[str, ...],
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> list[KeyLocation]:
    """Every place holding a key for this provider, in lookup order (the first one wins)."""
    env = os.environ if environ is None else environ
    found: list[KeyLocation] = []
    for variable in key_envs:
        if env.get(variable):
            register_secret(env[variable])
            found.append(KeyLocation(provider_name, "environment", variable, mask(env[variable])))
    dotenv = dotenv_path(cwd)
    if dotenv is not None:
        from openmux.config._dotenv import read_dotenv

        values, _ = read_dotenv(dotenv.parent)
        for variable in key_envs:
            value = values.get(variable)
            if value:
                register_secret(value)
                found.append(
                    KeyLocation(provider_name, ".env", f"{dotenv} ({variable})", mask(value))
                )
    stores = stored_providers().get(provider_name, [])
    if not stores:
        return found
    stored = stored_key_with_source(provider_name)
    for store in stores:
        if stored is not None and stored[1] == store:
            found.append(KeyLocation(provider_name, store, "", mask(stored[0])))
        elif store == SOURCE_FILE and stored is None and not current_passphrase():
            found.append(KeyLocation(provider_name, store, f"locked: set {PASSPHRASE_ENV}"))
        elif store == SOURCE_FILE:
            value = _read_file_key(provider_name)
            detail = "" if value else "unreadable"
            found.append(KeyLocation(provider_name, store, detail, mask(value)))
        else:
            found.append(KeyLocation(provider_name, store, "listed but not readable"))
    return found


def _read_file_key(name: str) -> str | None:
    passphrase = current_passphrase()
    if not passphrase:
        return None
    section = _readable_index(keyfile_path()).get("encrypted", {})
    try:
        value = decrypt(section, name, passphrase)
    except (SecretsError, KeyError):
        return None
    register_secret(value)
    return value
