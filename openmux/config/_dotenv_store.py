"""A `.env` file as a key store: one `VARIABLE=key` line, the file kept at mode 0600."""

from __future__ import annotations

import os
from pathlib import Path

from openmux._redact import register_secret
from openmux.config._secret_text import validate_key_text, write_private


def dotenv_path(cwd: Path | None = None) -> Path | None:
    """The `.env` load_settings reads (see `dotenv_search_path`), if there is one."""
    from openmux.config._dotenv import nearest_dotenv

    return nearest_dotenv(cwd or Path(os.getcwd()))


def write_dotenv_key(path: Path, variable: str, key: str) -> None:
    """Set `variable=key` in a .env file (other lines kept), leaving it mode 0600."""
    value = validate_key_text(key)
    register_secret(value)
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    kept = [line for line in lines if not _assigns(line, variable)]
    kept.append(f"{variable}={value}")
    write_private(path, "\n".join(kept) + "\n")


def remove_dotenv_key(path: Path, variable: str) -> bool:
    if not path.is_file():
        return False
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if not _assigns(line, variable)]
    if len(kept) == len(lines):
        return False
    write_private(path, "\n".join(kept) + ("\n" if kept else ""))
    return True


def _assigns(line: str, variable: str) -> bool:
    stripped = line.strip()
    if stripped.startswith("export "):
        stripped = stripped[len("export ") :].lstrip()
    name, sep, _ = stripped.partition("=")
    return bool(sep) and name.strip() == variable
