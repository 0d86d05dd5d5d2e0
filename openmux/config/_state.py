"""`[state] url` / OPENMUX_STATE_URL: where health, quotas, usage and the cache live."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from openmux._redact import redact
from openmux.errors import ConfigError

STATE_SCHEMES = ("sqlite", "redis", "rediss")
STATE_URL_FIX = 'use "sqlite:///PATH/TO/STATE/DIR", "redis://HOST:6379/0" or "rediss://HOST:6380/0"'


def check_state_url(url: str, source: str) -> str:
    """The URL, with its scheme in small letters and no blanks around it (as the backends
    expect it), or ConfigError naming what is wrong (credentials masked)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(
            f"state url {redact(url)!r} is not a URL ({exc})", source=source, fix=STATE_URL_FIX
        ) from exc
    if parts.scheme not in STATE_SCHEMES:
        raise ConfigError(
            f"state url {redact(url)!r}: unknown scheme {parts.scheme or '(none)'!r}",
            source=source,
            fix=STATE_URL_FIX,
        )
    if parts.scheme != "sqlite" and not parts.hostname:
        raise ConfigError(
            f"state url {redact(url)!r} names no host", source=source, fix=STATE_URL_FIX
        )
    if parts.scheme != "sqlite" and port == 0:
        raise ConfigError(f"state url {redact(url)!r}: port 0", source=source, fix=STATE_URL_FIX)
    database = parts.path.strip("/")
    if parts.scheme != "sqlite" and database and not database.isdigit():
        raise ConfigError(
            f"state url {redact(url)!r}: the database {database!r} is no number",
            source=source,
            fix=STATE_URL_FIX,
        )
    if parts.scheme != "sqlite" and parts.query:
        _check_client_options(url, source)
    if parts.scheme == "sqlite" and parts.netloc:
        raise ConfigError(
            f"state url {redact(url)!r}: a sqlite url names a folder, not a host",
            source=source,
            fix="write three slashes: sqlite:///PATH/TO/STATE/DIR",
        )
    return parts.scheme + url[len(parts.scheme) :]


def _check_client_options(url: str, source: str) -> None:
    """The options after `?` are the Redis client's: one it cannot take (a misspelt name, a
    value of the wrong kind, a TLS option on a redis:// url) is named here, once, instead
    of failing every use of the state. Builds a connection object; connects nowhere."""
    try:
        import redis
    except ImportError:
        return  # the missing package is named where the state is first used
    try:
        redis.ConnectionPool.from_url(url).make_connection()
    except (ValueError, TypeError, redis.RedisError) as exc:
        raise ConfigError(
            f"state url {redact(url)!r}: an option after '?' cannot be used ({redact(str(exc))})",
            source=source,
            fix="correct or drop it; the options are redis-py's connection arguments",
        ) from None


def sqlite_state_dir(url: str | None) -> Path | None:
    """The folder a `sqlite:///PATH` state url names (None: the default state dir)."""
    if not url or not url.startswith("sqlite:"):
        return None
    path = unquote(urlsplit(url).path).lstrip("/")
    if not path:
        return None
    # sqlite:///~/state is the home folder's; sqlite:////srv/state (SQLAlchemy's absolute form)
    # and sqlite:///srv/state both name /srv/state.
    return Path(path).expanduser() if path.startswith("~") else Path("/" + path)
