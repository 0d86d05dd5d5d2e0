"""Who may call the server: server keys, the loopback rule and the checks of a caller.

Server keys are not provider keys: they are what clients send as
`Authorization: Bearer KEY` (the openai SDK's `api_key`). They come from
`OPENMUX_SERVER_KEYS` (comma-separated) or, when that is unset, from OpenMux's
key store under the name `server` (the OS keyring or the encrypted key file).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from functools import lru_cache

from openmux.config import is_loopback_host, is_loopback_url, stored_key
from openmux.errors import ConfigError
from openmux.server._errors import APIError

KEYS_ENV = "OPENMUX_SERVER_KEYS"
KEY_STORE_NAME = "server"
_MIN_KEY_LENGTH = 16
_KEYS_FIX = "use long random keys (python -c 'import secrets; print(secrets.token_urlsafe())')"


def server_keys() -> tuple[bytes, ...]:
    """The configured server keys (empty: none configured)."""
    raw = os.environ.get(KEYS_ENV)
    if raw is None:
        stored = stored_key(KEY_STORE_NAME)
        raw = stored.get_secret_value() if stored is not None else ""
    keys = tuple(key.strip() for key in raw.split(",") if key.strip())
    short = [key for key in keys if len(key) < _MIN_KEY_LENGTH]
    if short:
        raise ConfigError(
            f"{len(short)} server key(s) shorter than {_MIN_KEY_LENGTH} characters",
            source=KEYS_ENV,
            fix=_KEYS_FIX,
        )
    unsendable = [key for key in keys if not (key.isascii() and key.isprintable())]
    if unsendable:  # a header carries ASCII: no client could ever present such a key
        raise ConfigError(
            f"{len(unsendable)} server key(s) with characters other than printable ASCII",
            source=KEYS_ENV,
            fix=_KEYS_FIX,
        )
    return tuple(key.encode() for key in keys)


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine in any spelling (`localhost`, `[::1]`,
    `::ffff:127.0.0.1`, `127.1`): the one rule config uses for loopback."""
    host = host.strip("[]").lower().rstrip(".")
    return host == "localhost" or is_loopback_host(host)


@lru_cache(maxsize=64)  # a client sends the same Host on every request
def host_is_loopback(host: str | None) -> bool:
    """Whether a request's `Host` header names this machine (None: HTTP/1.0, which no
    browser speaks). Without server keys nothing else is let in: a page whose name was
    rebound to 127.0.0.1 is same-origin with the server, so its GETs carry no Origin,
    but they still name the page's host. Read as written, never resolved."""
    return host is None or is_loopback_url(f"//{host}")


def check_bind(host: str, keys: tuple[bytes, ...]) -> None:
    """Refuse to listen beyond this machine without server keys."""
    if keys or is_loopback(host):
        return
    raise ConfigError(
        f"refusing to listen on {host}: anyone who can reach it could spend your providers' "
        "quotas, and no server keys are configured",
        source="--host",
        fix=f"set {KEYS_ENV}=KEY1,KEY2 (clients send one as their API key), "
        "or keep the default --host 127.0.0.1",
    )


def authorized(header: str | None, keys: tuple[bytes, ...]) -> bool:
    """Whether `Authorization: Bearer KEY` names a server key (every key compared, in
    constant time, so timing tells neither which key nor how much of one matched)."""
    if not keys:
        return True
    scheme, _, presented = (header or "").partition(" ")
    candidate = presented.strip().encode() if scheme.lower() == "bearer" else b""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(candidate, key)
    return matched and bool(candidate)


def origin_allowed(origin: str | None, allowed: frozenset[str]) -> bool:
    """Whether a request may come from this browser `Origin` (None: not from a browser
    page). CORS off stops a page of another origin reading an answer, not sending a
    "simple" request (a text/plain POST needs no preflight): it is refused here, unless
    `--cors-origin` allows the origin."""
    return origin is None or origin in allowed or "*" in allowed


def check_caller(
    headers: Mapping[str, str], keys: tuple[bytes, ...], cors_origins: frozenset[str]
) -> None:
    """Raise the APIError that refuses this request's caller, if any: a browser page of
    an origin not allowed, a name other than this machine's on a server without keys,
    a missing or wrong key."""
    origin = headers.get("origin")
    if not origin_allowed(origin, cors_origins):
        raise APIError(
            403,
            f"requests from the browser origin {origin} are refused: CORS is off "
            f"for it (openmux serve --cors-origin {origin} allows it)",
            code="origin_not_allowed",
        )
    if not (keys or host_is_loopback(headers.get("host"))):
        raise APIError(
            403,
            f"requests addressed to {headers['host']} are refused: without server keys "
            f"this server answers only to localhost and 127.0.0.1 (set {KEYS_ENV} to "
            "serve other names)",
            code="host_not_allowed",
        )
    if not authorized(headers.get("authorization"), keys):
        raise APIError(
            401,
            "Incorrect or missing API key: send one of the server keys as "
            "'Authorization: Bearer KEY'",
            code="invalid_api_key",
        )
