"""Connection pools shared by every provider adapter.

Building an HTTP client costs tens of milliseconds (mostly its TLS context);
a failover to a second provider must not pay that on the request's path, so
one TLS context and one pool serve every provider. The OpenAI SDK 3 speaks
`httpx2` (an API-identical fork of httpx): handing it a classic httpx client
would cost an adapter on every request, so its clients are built from whichever
module the installed SDK uses. Sync requests go through httpx's own pool; async ones
through one pool of our own HTTP/1.1 client per event loop (`_aio`), behind an
httpx transport.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
import weakref
from collections.abc import AsyncGenerator
from contextvars import ContextVar
from functools import cache
from types import ModuleType
from typing import Any

from openmux.providers._aio import AioPool, transport_class
from openmux.providers._first_token import Watch, sync_transport_class

_lock = threading.Lock()
_sync_clients: dict[str, Any] = {}
_unused_async_client: Any = None


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

    from openmux import _logging

    _logging.install()  # the SDK's and its HTTP client's loggers exist now: mask them
    if int(str(openai.__version__).split(".")[0]) >= 3:
        import httpx2

        return httpx2
    import httpx

    return httpx


def preload_call_path() -> None:
    """Do now what the first async OpenAI-protocol call would do: import the OpenAI SDK
    (whose httpx module names the errors raised) and the lean wire path, load the TLS
    context's CA bundle (about 80 ms, even for a loop whose providers are all plain
    HTTP) and read the user agent's version: a server pays it when it starts, not in its
    first request."""
    from openmux.providers import _http1, _wire  # noqa: F401

    openai_httpx()
    ssl_context()
    _http1.user_agent()


MAX_CONNECTIONS = 1000
"""Per pool, as the OpenAI SDK's own client allows: a burst of routed calls must not queue
for connections where direct calls would not."""


def _limits(httpx: ModuleType) -> Any:
    return httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=100)


_headers_at: ContextVar[list[float] | None] = ContextVar("openmux_headers_at", default=None)


def watching_headers() -> Watch[list[float]]:
    """A list that receives the time the next provider response's headers arrive (the
    end of connecting and sending, for a profile), on this thread or task only."""
    arrived: list[float] = []
    return Watch(_headers_at, arrived, arrived)


_rate_headers: ContextVar[dict[str, str] | None] = ContextVar("openmux_rate_headers", default=None)


def watching_rate_limits() -> Watch[dict[str, str]]:
    """A dict that receives the rate-limit headers (`x-ratelimit-*`, `retry-after`) of
    the provider responses that follow, on this thread or task only."""
    seen: dict[str, str] = {}
    return Watch(_rate_headers, seen, seen)


def _note_headers(response: Any) -> None:
    arrived = _headers_at.get()
    if arrived is not None and not arrived:
        arrived.append(time.perf_counter())
    seen = _rate_headers.get()
    if seen is not None:
        for name, value in response.headers.items():
            lowered = name.lower()
            if lowered.startswith("x-ratelimit-") or lowered == "retry-after":
                seen[lowered] = value


@cache
def sync_transport(httpx: ModuleType | None = None) -> Any:
    """The shared sync pool's transport (classic httpx unless a module is named)."""
    if httpx is None:
        import httpx as classic

        httpx = classic
    return sync_transport_class(httpx)(limits=_limits(httpx), verify=ssl_context())


def _async_pool() -> AioPool:
    """A pool for one event loop (it opens on first use, on that loop)."""
    return AioPool(ssl_context(), MAX_CONNECTIONS, _note_headers)


def _async_client(httpx: ModuleType, pool: AioPool) -> Any:
    # Proxies from the environment are the pool's (see `_aio`): httpx's would bypass it.
    return httpx.AsyncClient(transport=transport_class(httpx)(pool), trust_env=False)


def sync_client(httpx: ModuleType | None = None) -> Any:
    """A client of the shared sync pool, in the OpenAI SDK's httpx module (httpx or httpx2)
    unless another is named."""
    if httpx is None:
        httpx = openai_httpx()
    client = _sync_clients.get(httpx.__name__)
    if client is None:
        with _lock:
            client = _sync_clients.get(httpx.__name__)
            if client is None:
                client = httpx.Client(
                    transport=sync_transport(httpx), event_hooks={"response": [_note_headers]}
                )
                _sync_clients[httpx.__name__] = client
    return client


def current_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _LoopScope:
    """What belongs to one event loop: its pool (and the httpx client over it), and caches
    of clients built on it."""

    def __init__(self, pool: AioPool) -> None:
        self.pool = pool
        self.client = _async_client(openai_httpx(), pool)
        self.caches: weakref.WeakKeyDictionary[object, dict[Any, Any]] = weakref.WeakKeyDictionary()
        self.closer: Any = None


_scopes: dict[asyncio.AbstractEventLoop, _LoopScope] = {}


async def _close_with_loop(loop: asyncio.AbstractEventLoop) -> AsyncGenerator[None, None]:
    """Suspended for the loop's lifetime; its `finally` runs when the loop shuts down.

    `asyncio.run` (and every loop that calls `shutdown_asyncgens`) closes the async
    generators still alive on it before closing the loop: that is the one moment
    the pool's connections can still be closed on the loop they belong to.
    """
    try:
        yield
    finally:
        with _lock:
            scope = _scopes.pop(loop, None)
        if scope is not None:
            scope.caches.clear()
            await scope.client.aclose()


def _scope(loop: asyncio.AbstractEventLoop) -> _LoopScope:
    """The loop's scope (the caller holds the lock)."""
    scope = _scopes.get(loop)
    if scope is not None:
        return scope
    for old in [known for known in _scopes if known.is_closed()]:
        # Closed without shutting down its async generators: nothing can run on it
        # any more, so its connections are dropped (and closed as they are collected).
        _scopes.pop(old).pool.drop()
    scope = _LoopScope(_async_pool())
    closer = _close_with_loop(loop)
    step = closer.asend(None)  # registers the generator with the running loop
    try:
        step.send(None)
    except StopIteration:
        scope.closer = closer  # the loop tracks it weakly: keep it alive here
    _scopes[loop] = scope
    return scope


def async_client(loop: asyncio.AbstractEventLoop | None) -> Any:
    """The pool of one event loop (pooled connections cannot cross loops), closed with it.

    With no loop (a sync caller) the client is one that will never be used,
    handed over only so that adapters do not build a default one of their own.
    """
    global _unused_async_client
    with _lock:
        if loop is None:
            if _unused_async_client is None:
                _unused_async_client = _async_client(openai_httpx(), _async_pool())
            return _unused_async_client
        return _scope(loop).client


def aio_pool(loop: asyncio.AbstractEventLoop) -> AioPool:
    """The pool under `async_client(loop)`, for callers that skip httpx (see `_wire`)."""
    with _lock:
        return _scope(loop).pool


def async_transport(loop: asyncio.AbstractEventLoop, httpx: ModuleType) -> Any:
    """An `httpx` transport over the loop's pool, for a client built elsewhere (Ollama's)."""
    return transport_class(httpx)(aio_pool(loop))


def loop_cache(loop: asyncio.AbstractEventLoop, owner: object) -> dict[Any, Any]:
    """A dict of `owner`'s that lives as long as the loop does (for clients built on it)."""
    with _lock:
        return _scope(loop).caches.setdefault(owner, {})


def open_loop_pools() -> int:
    """How many event loops hold a pool now (each is closed with its loop)."""
    with _lock:
        return len(_scopes)


def timeout(
    connect: float, first_token: float, total: float, httpx: ModuleType | None = None
) -> Any:
    """httpx has no total timeout: read bounds the wait for the first byte and each later one."""
    if httpx is None:
        httpx = openai_httpx()
    return httpx.Timeout(total, connect=connect, read=first_token)
