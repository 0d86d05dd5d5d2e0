"""Which backend holds this process's state: `[state] url` / OPENMUX_STATE_URL, once."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

from openmux._logging import get_logger
from openmux.state._backend import StateBackend
from openmux.state._sqlite import SqliteBackend

_log = get_logger("openmux.state")
_lock = threading.Lock()
_backends: dict[tuple[Path, str], StateBackend] = {}
_answers: dict[tuple[object, ...], StateBackend] = {}
_STATE_VARIABLES = ("OPENMUX_STATE_URL", "OPENMUX_STATE_DIR", "OPENMUX_CONFIG")


def configured_state(state_dir: Path | None) -> tuple[Path, str]:
    """(the state dir, the state url or "") the settings name."""
    from openmux.config import default_state_dir, load_settings
    from openmux.errors import ConfigError

    try:
        settings = load_settings()
    except ConfigError:  # whoever loads the settings says what is wrong; state stays local
        return state_dir or default_state_dir(), ""
    directory = state_dir or settings.state_dir or default_state_dir()
    return directory, settings.state_url or ""


def state_backend(state_dir: Path | None = None, *, url: str | None = None) -> StateBackend:
    """The process's backend for this state dir (None: the configured one), built once.

    `url` (default: the settings' `[state] url`) picks it: redis:// or rediss:// a
    Redis-protocol server, anything else SQLite files in the state dir."""
    # Reading the settings costs a config file parse: done once per state dir and the
    # variables that could change the answer, so callers may ask on every request.
    asked = (state_dir, url, *(os.environ.get(name) for name in _STATE_VARIABLES), os.getcwd())
    found = _answers.get(asked)
    if found is not None:
        return found
    if url is None:
        directory, url = configured_state(state_dir)
    else:
        directory = state_dir or configured_state(None)[0]
    key = (directory, url if url.startswith("redis") else "")
    with _lock:
        backend = _backends.get(key)
        if backend is None:
            backend = _backends[key] = _build(directory, key[1])
        _answers[asked] = backend
        return backend


def _build(state_dir: Path, url: str) -> StateBackend:
    if not url:
        return SqliteBackend(state_dir)
    try:
        import redis  # noqa: F401  (an extra: missing, it is named here, once)
    except ImportError:
        return _without_redis(state_dir)
    from openmux.state._redis import RedisBackend

    return RedisBackend(url, None if urlsplit(url).password else _stored_password())


def _without_redis(state_dir: Path) -> SqliteBackend:
    """This host's state dir, for a state url whose client package is not installed."""
    backend = SqliteBackend(state_dir)
    missing = 'the state url needs the redis package: pip install "openmux[redis]"'
    _log.warning("%s; answering from this host's state dir", missing)
    backend.problem = "; ".join(filter(None, [missing, backend.problem]))
    return backend


def _stored_password() -> str | None:
    from openmux.config import stored_key

    secret = stored_key("state")
    return secret.get_secret_value() if secret is not None else None
