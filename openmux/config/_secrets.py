"""Stored provider keys: the OS keyring, an encrypted file, or a `.env` file.

Lookup order for a provider's key (see `load_settings`): constructor argument,
environment variable, `.env`, then the two stores kept here: the OS keyring
(service ``openmux``, user = provider id) and the encrypted key file.

Both stores are listed in one small JSON file, ``keys.json`` in the user config
dir (``$OPENMUX_KEYFILE`` overrides the path). It names the providers whose key
sits in the keyring (names only) and holds the encrypted keys themselves
(Fernet tokens, from the `cryptography` package, under a key derived from a
passphrase with scrypt). A process that finds no provider listed there never
imports `keyring`, so a lookup costs one `stat` when nothing is stored, and a
machine without a usable keyring backend neither waits nor prompts. Keyring
calls run with a timeout: a backend that hangs (a locked desktop keyring, a
D-Bus without its service) is skipped for the rest of the process.

The encrypted file needs its passphrase: ``$OPENMUX_KEYFILE_PASSPHRASE``, or
`unlock()` (the CLI prompts for it). Without one, its keys are simply not
found (and `key_locations` reports them as locked).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets as _random
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import SecretStr

from openmux._logging import get_logger
from openmux._redact import register_secret
from openmux.errors import OpenMuxError

__all__ = [
    "PASSPHRASE_ENV",
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

SERVICE = "openmux"
KEYFILE_ENV = "OPENMUX_KEYFILE"
PASSPHRASE_ENV = "OPENMUX_KEYFILE_PASSPHRASE"
KEYRING_TIMEOUT = 3.0
SOURCE_KEYRING = "keyring"
SOURCE_FILE = "encrypted file"

# scrypt cost: 2**15 * 8 * 128 bytes = 32 MiB and about a tenth of a second.
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}

_log = get_logger("openmux.secrets")
_lock = threading.RLock()
_T = TypeVar("_T")


class SecretsError(OpenMuxError):
    """A key could not be stored or read; the message says why and what to do."""


# --------------------------------------------------------------------------- helpers


def keyfile_path() -> Path:
    explicit = os.environ.get(KEYFILE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    from openmux.config._toml import user_config_dir

    return user_config_dir() / "keys.json"


def mask(value: str | SecretStr | None) -> str:
    """Enough to recognise a key, never enough to use it."""
    if value is None:
        return ""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if len(text) < 16:
        return "****"
    return f"{text[:4]}…{text[-4:]}"


def validate_key_text(text: str) -> str:
    """The key without surrounding whitespace; SecretsError if it cannot be a key."""
    key = text.strip()
    if not key:
        raise SecretsError("the key is empty")
    if any(c.isspace() for c in key) or any(c in key for c in "'\"\\") or not key.isprintable():
        raise SecretsError("a key has no spaces, quotes or control characters; paste it again")
    return key


def _run_with_timeout(fn: Callable[[], _T], timeout: float) -> _T:
    """Run `fn` in a daemon thread; TimeoutError if it does not return in time."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="openmux-keyring", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"the keyring did not answer within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by the owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{_random.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


# --------------------------------------------------------------------------- the index file


def _read_index(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        _log.warning("cannot read the key file %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _write_index(path: Path, data: Mapping[str, Any]) -> None:
    _write_private(path, json.dumps({"version": 1, **data}, indent=2, sort_keys=True) + "\n")


def stored_providers() -> dict[str, list[str]]:
    """Provider id -> the stores ("keyring", "encrypted file") that list a key for it."""
    data = _read_index(keyfile_path())
    found: dict[str, list[str]] = {}
    for name in data.get("keyring", []) or []:
        found.setdefault(str(name), []).append(SOURCE_KEYRING)
    for name in (data.get("encrypted", {}) or {}).get("keys", {}) or {}:
        found.setdefault(str(name), []).append(SOURCE_FILE)
    return found


# --------------------------------------------------------------------------- keyring


@dataclass(frozen=True)
class KeyringStatus:
    usable: bool
    backend: str
    reason: str = ""

    @property
    def insecure(self) -> bool:
        """A backend that keeps keys in clear text (keyrings.alt's PlaintextKeyring)."""
        return "plaintext" in self.backend.lower()


_keyring_state: dict[str, Any] = {}  # "status": KeyringStatus, "backend": object


def _backend_env() -> str:
    return os.environ.get("PYTHON_KEYRING_BACKEND", "")


def _load_backend() -> tuple[Any, KeyringStatus]:
    import keyring.core
    from keyring.backends import chainer, fail

    # Choose again (PYTHON_KEYRING_BACKEND or keyringrc may have changed since keyring chose).
    keyring.core.init_backend()
    backend = keyring.core.get_keyring()
    name = f"{type(backend).__module__}.{type(backend).__qualname__}"
    priority = getattr(backend, "priority", 1)
    if isinstance(backend, fail.Keyring) or type(backend).__module__.endswith(".null"):
        return None, KeyringStatus(False, name, "no keyring backend is available")
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None, KeyringStatus(False, name, "no keyring backend is available")
    if isinstance(priority, (int, float)) and priority <= 0 and not _backend_env():
        return None, KeyringStatus(False, name, "the keyring backend is not usable here")
    return backend, KeyringStatus(True, name)


def _keyring_backend() -> tuple[Any, KeyringStatus]:
    """The keyring backend (cached per process and PYTHON_KEYRING_BACKEND value)."""
    with _lock:
        env = _backend_env()
        if _keyring_state.get("env") == env and "status" in _keyring_state:
            return _keyring_state.get("backend"), _keyring_state["status"]
        try:
            backend, status = _run_with_timeout(_load_backend, KEYRING_TIMEOUT)
        except TimeoutError as exc:
            backend, status = None, KeyringStatus(False, "unknown", str(exc))
        except Exception as exc:
            backend, status = None, KeyringStatus(False, "unknown", f"keyring failed: {exc}")
        if not status.usable:
            _log.debug("keyring not used: %s (%s)", status.reason, status.backend)
        _keyring_state.update(env=env, backend=backend, status=status)
        return backend, status


def keyring_status() -> KeyringStatus:
    return _keyring_backend()[1]


def _keyring_call(fn: Callable[[Any], _T]) -> _T:
    backend, status = _keyring_backend()
    if backend is None:
        raise SecretsError(f"the OS keyring is not usable: {status.reason}")
    try:
        return _run_with_timeout(lambda: fn(backend), KEYRING_TIMEOUT)
    except TimeoutError as exc:
        with _lock:
            _keyring_state["backend"] = None
            _keyring_state["status"] = KeyringStatus(False, status.backend, str(exc))
        raise SecretsError(f"the OS keyring is not usable: {exc}") from exc
    except SecretsError:
        raise
    except Exception as exc:
        raise SecretsError(f"the OS keyring failed: {type(exc).__name__}: {exc}") from exc


# --------------------------------------------------------------------------- encrypted file

_passphrase: dict[str, str] = {}
_fernet_cache: dict[tuple[bytes, str], Any] = {}


def unlock(passphrase: str | None) -> None:
    """Use this passphrase for the encrypted key file in this process (None forgets it)."""
    with _lock:
        if passphrase:
            _passphrase["value"] = passphrase
        else:
            _passphrase.pop("value", None)
        _values.clear()


def _current_passphrase() -> str | None:
    return _passphrase.get("value") or os.environ.get(PASSPHRASE_ENV) or None


def _fernet(salt: bytes, passphrase: str, params: Mapping[str, int]) -> Any:
    try:
        from cryptography.fernet import Fernet
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
    except ImportError as exc:  # pragma: no cover - cryptography is a dependency
        raise SecretsError(
            "the encrypted key file needs the `cryptography` package: pip install cryptography"
        ) from exc
    digest = hashlib.sha256(passphrase.encode()).hexdigest()
    cache_key = (salt + repr(sorted(params.items())).encode(), digest)
    with _lock:
        if cache_key not in _fernet_cache:
            kdf = Scrypt(salt=salt, length=32, n=params["n"], r=params["r"], p=params["p"])
            key = base64.urlsafe_b64encode(kdf.derive(passphrase.encode()))
            _fernet_cache[cache_key] = Fernet(key)
        return _fernet_cache[cache_key]


def _file_fernet(section: Mapping[str, Any], passphrase: str) -> Any:
    salt = base64.b64decode(section["salt"])
    params = {k: int(section.get(k, _SCRYPT[k])) for k in _SCRYPT}
    return _fernet(salt, passphrase, params)


def _decrypt(section: Mapping[str, Any], name: str, passphrase: str) -> str:
    from cryptography.fernet import InvalidToken

    token = section.get("keys", {}).get(name)
    if not isinstance(token, str):
        raise KeyError(name)
    try:
        return _file_fernet(section, passphrase).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretsError(
            f"wrong passphrase for the key file {keyfile_path()} (check {PASSPHRASE_ENV})"
        ) from exc


# --------------------------------------------------------------------------- lookup

_values: dict[tuple[Any, ...], tuple[SecretStr, str] | None] = {}


def clear_cache() -> None:
    with _lock:
        _values.clear()
        _keyring_state.clear()


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
    passphrase = _current_passphrase()
    cache_key = (
        provider_name,
        str(path),
        stamp,
        _backend_env(),
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
    data = _read_index(path)
    if name in (data.get("keyring") or []):
        try:
            value = _keyring_call(lambda backend: backend.get_password(SERVICE, name))
        except SecretsError as exc:
            _log.warning("%s: key not read from the keyring: %s", name, exc)
            value = None
        if value:
            return SecretStr(value), SOURCE_KEYRING
    section = data.get("encrypted") or {}
    if name in (section.get("keys") or {}):
        if not passphrase:
            _log.info(
                "%s: a key is in the encrypted file %s; set %s to use it",
                name,
                path,
                PASSPHRASE_ENV,
            )
            return None
        try:
            return SecretStr(_decrypt(section, name, passphrase)), SOURCE_FILE
        except (SecretsError, KeyError, ValueError) as exc:
            _log.warning("%s: key not read from %s: %s", name, path, exc)
    return None


# --------------------------------------------------------------------------- writing


@contextlib.contextmanager
def _editing_index() -> Iterator[dict[str, Any]]:
    path = keyfile_path()
    with _lock:
        data = _read_index(path)
        data.pop("version", None)
        yield data
        _write_index(path, data)
        _values.clear()


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
        _keyring_call(lambda backend: backend.set_password(SERVICE, provider_name, value))
        with _editing_index() as data:
            names = set(data.get("keyring") or [])
            names.add(provider_name)
            data["keyring"] = sorted(names)
        return None
    if store == "file":
        secret = passphrase or _current_passphrase()
        if not secret:
            raise SecretsError(f"the encrypted key file needs a passphrase (set {PASSPHRASE_ENV})")
        with _editing_index() as data:
            section = dict(data.get("encrypted") or {})
            if section.get("keys"):
                any_name = next(iter(section["keys"]))
                _decrypt(section, any_name, secret)  # same passphrase for every key
            else:
                section = {
                    "kdf": "scrypt",
                    "salt": base64.b64encode(_random.token_bytes(16)).decode(),
                    **_SCRYPT,
                    "keys": {},
                }
            token = _file_fernet(section, secret).encrypt(value.encode()).decode()
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
    with _editing_index() as data:
        names = list(data.get("keyring") or [])
        if "keyring" in stores and provider_name in names:
            try:
                _keyring_call(lambda backend: backend.delete_password(SERVICE, provider_name))
            except SecretsError as exc:
                if "not found" not in str(exc).lower():
                    _log.warning("%s: keyring entry not deleted: %s", provider_name, exc)
            names.remove(provider_name)
            data["keyring"] = names
            removed.append(SOURCE_KEYRING)
        section = data.get("encrypted") or {}
        if "file" in stores and provider_name in (section.get("keys") or {}):
            section["keys"] = {k: v for k, v in section["keys"].items() if k != provider_name}
            data["encrypted"] = section
            removed.append(SOURCE_FILE)
    return removed


# --------------------------------------------------------------------------- .env files


def dotenv_path(cwd: Path | None = None) -> Path | None:
    """The `.env` load_settings reads: the nearest one upward from the working directory."""
    start = cwd or Path(os.getcwd())
    for folder in (start, *start.parents):
        candidate = folder / ".env"
        if candidate.is_file():
            return candidate
    return None


def write_dotenv_key(path: Path, variable: str, key: str) -> None:
    """Set `variable=key` in a .env file (other lines kept), leaving it mode 0600."""
    value = validate_key_text(key)
    register_secret(value)
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    kept = [line for line in lines if not _assigns(line, variable)]
    kept.append(f"{variable}={value}")
    _write_private(path, "\n".join(kept) + "\n")


def remove_dotenv_key(path: Path, variable: str) -> bool:
    if not path.is_file():
        return False
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if not _assigns(line, variable)]
    if len(kept) == len(lines):
        return False
    _write_private(path, "\n".join(kept) + ("\n" if kept else ""))
    return True


def _assigns(line: str, variable: str) -> bool:
    stripped = line.strip()
    if stripped.startswith("export "):
        stripped = stripped[len("export ") :].lstrip()
    name, sep, _ = stripped.partition("=")
    return bool(sep) and name.strip() == variable


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
        from dotenv import dotenv_values

        values = dotenv_values(dotenv)
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
        elif store == SOURCE_FILE and stored is None and not _current_passphrase():
            found.append(KeyLocation(provider_name, store, f"locked: set {PASSPHRASE_ENV}"))
        elif store == SOURCE_FILE:
            value = _read_file_key(provider_name)
            detail = "" if value else "unreadable"
            found.append(KeyLocation(provider_name, store, detail, mask(value)))
        else:
            found.append(KeyLocation(provider_name, store, "listed but not readable"))
    return found


def _read_file_key(name: str) -> str | None:
    passphrase = _current_passphrase()
    if not passphrase:
        return None
    section = _read_index(keyfile_path()).get("encrypted") or {}
    try:
        value = _decrypt(section, name, passphrase)
    except (SecretsError, KeyError, ValueError):
        return None
    register_secret(value)
    return value
