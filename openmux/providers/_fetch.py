"""One bounded GET made off the request path: a model listing, a key's limits, a probe.

`httpx.get` reads a body whole with a read timeout that restarts on every byte, so a
listing that drips for ever or floods gigabytes (a broken provider, a captive portal,
whoever sits on the path to a plain-http server) would hold `openmux doctor`, a catalog
refresh or a key check for as long as it went on, all of it in memory. These go through
the shared sync pool instead, whose transport ends a body still arriving when the fetch's
total time is up or past its size cap. Redirects are not followed: a key goes only to the
host it was configured for.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from openmux.errors import OpenMuxError
from openmux.providers import _http
from openmux.providers._failures import ProviderFailure
from openmux.providers._first_token import answering_at_most, answering_until

LISTING_BYTES = 16 << 20
"""The most of a listing read: thousands of models take a few MiB, and each byte of JSON
takes tens once parsed."""
LONGEST_ID = 256
"""Far above any model id served (an organisation and a repository name, a tag)."""


class FetchError(OpenMuxError):
    """No whole answer came. `reason` says why in a word or two (`ConnectError`,
    `ReadTimeout`, `too large`); the message is one line."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def bounded_get(
    url: str,
    headers: Mapping[str, str],
    *,
    timeout: float,
    total: float | None = None,
    cap: int = LISTING_BYTES,
) -> Any:
    """`GET url` with its body read whole within `total` seconds (by default `timeout`,
    which also bounds connecting and each wait for more), and at most `cap` bytes of it;
    FetchError otherwise. Any status comes back as the response."""
    import httpx

    total = timeout if total is None else total
    due = time.monotonic() + total
    try:
        with answering_until(due), answering_at_most(cap):
            return _http.sync_client(httpx).get(url, headers=dict(headers), timeout=timeout)
    except httpx.TimeoutException as exc:
        if time.monotonic() >= due:  # the transport's words name the routed call's setting
            raise FetchError(type(exc).__name__, f"still answering after {total:g} s") from None
        raise FetchError(type(exc).__name__, str(exc)) from None
    except httpx.HTTPError as exc:
        raise FetchError(type(exc).__name__, str(exc)) from None
    except ProviderFailure as exc:
        raise FetchError("too large", str(exc)) from None


def listed_id(value: object) -> str | None:
    """A model id as a listing gave it, or None for a value no model has: not text, empty,
    absurdly long, or holding characters that are not printable (terminal escapes, line
    breaks, direction overrides), which `openmux models` would print as they are."""
    if isinstance(value, str) and 0 < len(value) <= LONGEST_ID and value.isprintable():
        return value
    return None
