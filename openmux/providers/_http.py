"""Connection pools shared by every provider adapter.

Building an HTTP client costs tens of milliseconds (mostly its TLS context);
a failover to a second provider must not pay that on the request's path, so
one TLS context and one pool serve every provider. The OpenAI SDK 3 speaks
`httpx2` (an API-identical fork of httpx): handing it a classic httpx client
would cost an adapter on every request, so its pool is built from whichever
module the installed SDK uses.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import weakref
from functools import cache
from types import ModuleType
from typing import Any

from openmux.providers._first_token import transports

_lock = threading.Lock()
_sync_clients: dict[str, Any] = {}
_unused_async_client: Any = None
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
    weakref.WeakKeyDictionary()
)


@cache
def ssl_context() -> ssl.SSLContext:
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()


@cache
def openai_httpx() -> ModuleType:
    """The httpx module the installed OpenAI SDK is built on."""
    import openai

    if int(str(openai.__version__).split(".")[0]) >= 3:
        import httpx2

        return httpx2
    import httpx

    return httpx


def _limits(httpx: ModuleType) -> Any:
    return httpx.Limits(max_connections=400, max_keepalive_connections=100)


@cache
def sync_transport(httpx: ModuleType | None = None) -> Any:
    """The shared sync pool's transport (classic httpx unless a module is named)."""
    if httpx is None:
        import httpx as classic

        httpx = classic
    sync, _ = transports(httpx)
    return sync(limits=_limits(httpx), verify=ssl_context())


def _async_transport(httpx: ModuleType) -> Any:
    _, asynchronous = transports(httpx)
    return asynchronous(limits=_limits(httpx), verify=ssl_context())


def sync_client() -> Any:
    """The OpenAI-protocol pool (httpx or httpx2, as the SDK needs)."""
    httpx = openai_httpx()
    client = _sync_clients.get(httpx.__name__)
    if client is None:
        with _lock:
            client = _sync_clients.get(httpx.__name__)
            if client is None:
                client = httpx.Client(transport=sync_transport(httpx))
                _sync_clients[httpx.__name__] = client
    return client


def current_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def async_client(loop: asyncio.AbstractEventLoop | None) -> Any:
    """The pool of one event loop (pooled connections cannot cross loops).

    With no loop (a sync caller) the client is one that will never be used,
    handed over only so that adapters do not build a default one of their own.
    """
    global _unused_async_client
    httpx = openai_httpx()
    with _lock:
        if loop is None:
            if _unused_async_client is None:
                _unused_async_client = httpx.AsyncClient(transport=_async_transport(httpx))
            return _unused_async_client
        client = _async_clients.get(loop)
        if client is None:
            client = httpx.AsyncClient(transport=_async_transport(httpx))
            _async_clients[loop] = client
    return client


def timeout(
    connect: float, first_token: float, total: float, httpx: ModuleType | None = None
) -> Any:
    """httpx has no total timeout: read bounds the wait for the first byte and each later one."""
    if httpx is None:
        httpx = openai_httpx()
    return httpx.Timeout(total, connect=connect, read=first_token)
