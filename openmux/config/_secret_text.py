"""What every key store shares: its error, key checks, masks and private atomic writes."""

from __future__ import annotations

import contextlib
import os
import secrets as _random
from pathlib import Path

from pydantic import SecretStr

from openmux.errors import OpenMuxError


class SecretsError(OpenMuxError):
    """A key could not be stored or read; the message says why and what to do."""


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
    if not key.isascii():  # it travels in an HTTP header, which holds ASCII only
        raise SecretsError("a key is plain ASCII (no accents or curly quotes); paste it again")
    return key


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically and durably, readable by the owner only (0600).

    The text goes to a temporary file in the same folder, is flushed to disk, and
    replaces the old file in one rename: a reader sees the old file or the new
    one, and a crash leaves one of them whole.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{_random.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; Windows has no directory handles to sync)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
