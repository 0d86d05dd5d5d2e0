"""The key file: which providers keep a key in the keyring, and the encrypted keys themselves.

``keys.json`` in the user config dir (``$OPENMUX_KEYFILE`` overrides the path)
names the providers whose key sits in the keyring (names only) and holds the
encrypted keys (Fernet tokens, from the `cryptography` package, under a key
derived from a passphrase with scrypt).

Writers take an exclusive lock on ``keys.json.lock``, read, change and write the
whole file atomically (temporary file, fsync, rename), so concurrent `openmux
keys set` commands all land. A file that cannot be read is never rewritten:
the command stops and says how to recover; the previous good version of the
file is always kept beside it as ``keys.json.bak``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from openmux.config._secret_text import SecretsError, write_private

KEYFILE_ENV = "OPENMUX_KEYFILE"
PASSPHRASE_ENV = "OPENMUX_KEYFILE_PASSPHRASE"
SOURCE_FILE = "encrypted file"

# scrypt cost: 2**15 * 8 * 128 bytes = 32 MiB and about a tenth of a second.
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
# A damaged or hostile file must not make a lookup take minutes or gigabytes.
_SCRYPT_MAX = {"n": 2**20, "r": 32, "p": 16}

_lock = threading.RLock()
_passphrase: dict[str, str] = {}
_fernet_cache: dict[tuple[bytes, str], Any] = {}


def keyfile_path() -> Path:
    explicit = os.environ.get(KEYFILE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    from openmux.config._toml import user_config_dir

    return user_config_dir() / "keys.json"


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def damaged(path: Path, reason: str) -> SecretsError:
    backup = backup_path(path)
    restore = (
        f"restore the last good copy ({backup}) over it, or move it aside"
        if backup.is_file()
        else "move it aside"
    )
    return SecretsError(
        f"the key file {path} cannot be read ({reason}); it was left unchanged. "
        f"To recover: {restore} and store your keys again with `openmux keys set`"
    )


# --------------------------------------------------------------------------- reading


def read_index(path: Path) -> dict[str, Any]:
    """The file's content ({} when there is none); SecretsError when it cannot be trusted."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except IsADirectoryError:
        raise damaged(path, "it is a directory") from None
    except OSError as exc:
        raise damaged(path, exc.strerror or type(exc).__name__) from exc
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise damaged(path, f"not valid JSON: {exc}") from exc
    problem = _shape_problem(data)
    if problem:
        raise damaged(path, problem)
    return data


def _shape_problem(data: Any) -> str:
    if not isinstance(data, dict):
        return "not a JSON object"
    names = data.get("keyring", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return '"keyring" is not a list of provider names'
    section = data.get("encrypted", {})
    if not isinstance(section, dict):
        return '"encrypted" is not an object'
    keys = section.get("keys", {})
    if not isinstance(keys, dict) or not all(isinstance(t, str) for t in keys.values()):
        return '"encrypted.keys" is not a map of tokens'
    if keys:
        try:
            base64.b64decode(section["salt"], validate=True)
        except (KeyError, TypeError, ValueError):
            return '"encrypted.salt" is missing or damaged'
        for name, limit in _SCRYPT_MAX.items():
            value = section.get(name, SCRYPT[name])
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
                return f'scrypt parameter "{name}" = {value!r} is out of range (1 to {limit})'
        if section.get("n", SCRYPT["n"]) & (section.get("n", SCRYPT["n"]) - 1):
            return 'scrypt parameter "n" is not a power of two'
    return ""


# --------------------------------------------------------------------------- writing


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes, held on a separate lock file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if sys.platform == "win32":  # pragma: no cover - Windows
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def editing_index() -> Iterator[dict[str, Any]]:
    """Read, change and rewrite the key file under the lock; a damaged file stays untouched."""
    path = keyfile_path()
    with _lock, _file_lock(path):
        data = read_index(path)
        before = copy.deepcopy(data)
        data.pop("version", None)
        yield data
        if {"version": 1, **data} == before:
            return
        if before:
            write_private(backup_path(path), _render(before))
        write_private(path, _render({"version": 1, **data}))


def _render(data: Mapping[str, Any]) -> str:
    return json.dumps(dict(data), indent=2, sort_keys=True) + "\n"


# --------------------------------------------------------------------------- encryption


def unlock(passphrase: str | None) -> None:
    """Use this passphrase for the encrypted key file in this process (None forgets it)."""
    with _lock:
        if passphrase:
            _passphrase["value"] = passphrase
        else:
            _passphrase.pop("value", None)


def current_passphrase() -> str | None:
    return _passphrase.get("value") or os.environ.get(PASSPHRASE_ENV) or None


def new_section() -> dict[str, Any]:
    import secrets

    return {
        "kdf": "scrypt",
        "salt": base64.b64encode(secrets.token_bytes(16)).decode(),
        **SCRYPT,
        "keys": {},
    }


def _fernet(section: Mapping[str, Any], passphrase: str) -> Any:
    try:
        from cryptography.fernet import Fernet
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
    except ImportError as exc:  # pragma: no cover - cryptography is a dependency
        raise SecretsError(
            "the encrypted key file needs the `cryptography` package: pip install cryptography"
        ) from exc
    salt = base64.b64decode(section["salt"])
    params = {k: int(section.get(k, SCRYPT[k])) for k in SCRYPT}
    digest = hashlib.sha256(passphrase.encode()).hexdigest()
    cache_key = (salt + repr(sorted(params.items())).encode(), digest)
    with _lock:
        if cache_key not in _fernet_cache:
            kdf = Scrypt(salt=salt, length=32, n=params["n"], r=params["r"], p=params["p"])
            key = base64.urlsafe_b64encode(kdf.derive(passphrase.encode()))
            _fernet_cache[cache_key] = Fernet(key)
        return _fernet_cache[cache_key]


def encrypt(section: Mapping[str, Any], value: str, passphrase: str) -> str:
    return str(_fernet(section, passphrase).encrypt(value.encode()).decode())


def decrypt(section: Mapping[str, Any], name: str, passphrase: str) -> str:
    from cryptography.fernet import InvalidToken

    token = section.get("keys", {}).get(name)
    if not isinstance(token, str):
        raise KeyError(name)
    try:
        return str(_fernet(section, passphrase).decrypt(token.encode()).decode())
    except (InvalidToken, ValueError) as exc:
        raise SecretsError(
            f"wrong passphrase for the key file {keyfile_path()} (check {PASSPHRASE_ENV}),"
            f" or its entry for {name} is damaged"
        ) from exc


def check_passphrase(section: Mapping[str, Any], passphrase: str) -> None:
    """SecretsError unless the passphrase opens at least one stored key (all share it)."""
    errors: list[SecretsError] = []
    for name in section.get("keys") or {}:
        try:
            decrypt(section, name, passphrase)
            return
        except SecretsError as exc:
            errors.append(exc)
    if errors:
        raise SecretsError(
            f"wrong passphrase for the key file {keyfile_path()} (check {PASSPHRASE_ENV})"
        ) from errors[0]
