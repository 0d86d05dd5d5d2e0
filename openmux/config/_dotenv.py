"""Which `.env` file settings come from: the nearest one, never above the project root.

A `.env` is searched from the working directory upward, but only as far as the
project root (the nearest folder holding `.git` or `pyproject.toml`); outside
any project only the working directory's own `.env` counts. A `.env` left in a
home or parent folder then cannot change the settings of every project below it.
"""

from __future__ import annotations

from pathlib import Path

from openmux.errors import ConfigError

_ROOT_MARKERS = (".git", "pyproject.toml")


def project_root(cwd: Path) -> Path | None:
    for folder in (cwd, *cwd.parents):
        if any((folder / marker).exists() for marker in _ROOT_MARKERS):
            return folder
    return None


def dotenv_search_path(cwd: Path) -> list[Path]:
    root = project_root(cwd)
    if root is None:
        return [cwd]
    folders = [cwd]
    for folder in cwd.parents:
        if folder == root.parent:
            break
        folders.append(folder)
    return folders


def nearest_dotenv(cwd: Path) -> Path | None:
    for folder in dotenv_search_path(cwd):
        candidate = folder / ".env"
        if candidate.is_file():
            return candidate
    return None


def read_dotenv(cwd: Path) -> tuple[dict[str, str], Path | None]:
    """The variables of the nearest `.env` and its path; ConfigError naming it if unreadable."""
    path = nearest_dotenv(cwd)
    if path is None:
        return {}, None
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path, encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"the .env file is not UTF-8 text (byte {exc.start})",
            source=str(path),
            fix="save it as UTF-8, or delete the file",
        ) from exc
    except OSError as exc:
        raise ConfigError(
            f"cannot read the .env file: {exc.strerror}",
            source=str(path),
            fix="fix its permissions",
        ) from exc
    return {k: v for k, v in values.items() if v is not None}, path
