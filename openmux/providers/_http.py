"""Connection pools shared by every provider adapter.

Building an HTTP client costs tens of milliseconds (mostly its TLS context);
a failover to a second provider must not pay that on the request's path, so
one TLS context and one pool serve every provider.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import weakref
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

_lock = threading.Lock()
_sync_client: httpx.Client | None = None
_unused_async_client: httpx.AsyncClient | None = None
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


@cache
def ssl_context() -> ssl.SSLContext:
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()


def _limits() -> httpx.Limits:
    import httpx

    return httpx.Limits(max_connections=400, max_keepalive_connections=100)


@cache
def sync_transport() -> httpx.HTTPTransport:
    from openmux.providers._first_token import FirstTokenTransport

    return FirstTokenTransport(limits=_limits(), verify=ssl_context())


def _async_transport() -> httpx.AsyncHTTPTransport:
    from openmux.providers._first_token import AsyncFirstTokenTransport

    return AsyncFirstTokenTransport(limits=_limits(), verify=ssl_context())


def sync_client() -> httpx.Client:
    global _sync_client
    if _sync_client is None:
        import httpx

        with _lock:
            if _sync_client is None:
                _sync_client = httpx.Client(transport=sync_transport())
    return _sync_client


def current_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def async_client(loop: asyncio.AbstractEventLoop | None) -> httpx.AsyncClient:
    """The pool of one event loop (pooled connections cannot cross loops).

    With no loop (a sync caller) the client is one that will never be used,
    handed over only so that adapters do not build a default one of their own.
    """
    global _unused_async_client
    import httpx

    with _lock:
        if loop is None:
            if _unused_async_client is None:
                _unused_async_client = httpx.AsyncClient(transport=_async_transport())
            return _unused_async_client
        client = _async_clients.get(loop)
        if client is None:
            client = httpx.AsyncClient(transport=_async_transport())
            _async_clients[loop] = client
    return client


def timeout(connect: float, first_token: float, total: float) -> httpx.Timeout:
    """httpx has no total timeout: read bounds the wait for the first byte and each later one."""
    import httpx

    return httpx.Timeout(total, connect=connect, read=first_token)
