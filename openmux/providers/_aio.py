"""The async HTTP pool: a lean HTTP/1.1 client, one pool per event loop, for every async
provider call.

A provider call needs little of a general HTTP client: keep-alive connections, one
request at a time on each, an answer read as it arrives. aiohttp spent about 0.6 ms of
CPU on a loopback request (httpx's async stack three times that); this client, an
asyncio protocol per connection with llhttp (httptools) parsing the answer (`_http1`),
spends a fraction of it: one chat completion through `openmux serve`'s endpoint, request
and answer JSON included, went from 0.95 to 0.52 ms of CPU on a 2-core machine. Every
async request goes through `AioPool.send`, where the rules of a provider request live
once: the departure accounting (`watching_sends`), deadlines for connecting and for
the first answer counted from the send and put off by this process's own lag
(`_loop_lag`), the first-token watch that keep-alive comments cannot extend, the
rate-limit header watch, and failures raised as the matching httpx (or httpx2)
exceptions, so that failure classification and the OpenAI SDK's own error mapping see
what they always saw. `transport_class` hands the pool to httpx and httpx2 clients (the
OpenAI SDK's, through langchain-openai) as a transport; `openmux serve`'s lean path
(`_wire`) calls it directly.

What it does not do, on purpose: redirects (a provider that moved is a failure to
report, not to follow with the key), cookies (one pool serves every provider), HTTP/2.
Proxies (http:// or https://) come from the environment as httpx reads them (HTTP_PROXY,
HTTPS_PROXY, ALL_PROXY, NO_PROXY), once per pool: http:// targets through the proxy,
https:// ones through a CONNECT tunnel (`_connect`).
"""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.request
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from functools import cache
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from openmux.providers import _http1
from openmux.providers._connect import env_proxy, open_connection
from openmux.providers._first_token import Departure, FirstTokenWatch
from openmux.providers._http1 import (
    Answer,
    Connection,
    Proxy,
    Target,
    content_of,
    decoded_headers,
    request_head,
    target_of,
)
from openmux.providers._loop_lag import first_answer


class AioPool:
    """One event loop's connections, opened on the loop that uses them."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        max_connections: int,
        on_headers: Callable[[Any], None],
    ) -> None:
        self._ssl_context = ssl_context
        self._max_connections = max_connections
        self._on_headers = on_headers
        self._open = False
        self._in_use = 0
        self._idle: dict[tuple[tuple[str, str, int], Proxy | None], list[Connection]] = {}
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._every: set[Connection] = set()
        self._reaper: asyncio.TimerHandle | None = None
        self._proxies: dict[str, str] = {}
        self._proxy_by_origin: dict[tuple[str, str], Proxy | None] = {}

    def _proxy(self, scheme: str, host: str) -> Proxy | None:
        if not self._proxies:
            return None
        origin = (scheme, host)
        if origin not in self._proxy_by_origin:
            self._proxy_by_origin[origin] = env_proxy(self._proxies, scheme, host)
        return self._proxy_by_origin[origin]

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: Any,
        timeouts: Mapping[str, float | None],
        errors: ModuleType,
        *,
        decompress: bool = True,
    ) -> Answer:
        """Send a request and wait for its answer's headers.

        `timeouts` as httpx's request extension: `pool` bounds the wait for a connection
        of this pool, `connect` the connecting from then, `read` the first answer from
        when the request was written, and each later read of its body. `errors` is the
        httpx module whose exceptions are raised."""
        target = target_of(url)
        if target is None:
            # Not the URL itself: a query string may carry a key.
            scheme = urlsplit(url).scheme or "none"
            raise errors.UnsupportedProtocol(f"not an http:// or https:// URL (scheme: {scheme})")
        if not self._open:
            self._open = True
            self._proxies = urllib.request.getproxies_environment()
        departure = Departure()
        asked = time.monotonic()
        connect, read, pool = timeouts.get("connect"), timeouts.get("read"), timeouts.get("pool")

        def due() -> float | None:
            if departure.at is None:
                return asked + pool if pool else None
            return departure.due(connect, read)

        def expired() -> BaseException:
            if departure.at is None:
                return errors.PoolTimeout(f"no free connection within {pool:g} s")
            if departure.written is None:
                return errors.ConnectTimeout(f"not connected within {connect:g} s")
            return errors.ReadTimeout(f"no answer within {read:g} s of sending")

        try:
            answer = await first_answer(
                self._exchange(method, target, headers, body, departure, errors, decompress),
                due,
                expired,
            )
        finally:
            departure.give_up()
        answer.watch = FirstTokenWatch(
            departure.written or time.monotonic(), read, errors.ReadTimeout
        )
        answer.read_timeout = read
        self._on_headers(answer)
        return answer

    async def _exchange(
        self,
        method: str,
        target: Target,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: Any,
        departure: Departure,
        errors: ModuleType,
        decompress: bool,
    ) -> Answer:
        scheme, host, _ = target.origin
        proxy = self._proxy(scheme, host)
        content = await content_of(body)
        through_proxy = proxy if scheme == "http" else None  # https goes through a tunnel
        try:
            head = request_head(method, target, headers, len(content), decompress, through_proxy)
        except ValueError as exc:
            raise errors.LocalProtocolError(str(exc)) from None
        fresh = False
        while True:
            connection = await self._acquire(target.origin, proxy, departure, errors, fresh)
            answer = Answer(connection, errors, decompress, method == "HEAD")
            connection.answer = answer
            try:
                if len(content) < 65536:  # one send
                    connection.write(head + content, errors)
                else:  # a large body is not copied to join it to the head
                    connection.write(head, errors)
                    connection.write(content, errors)
                departure.wrote()
                await answer.arrived
            except errors.RemoteProtocolError:
                answer.close()
                if fresh or connection.idle_since == 0.0 or answer.heard:
                    raise
                # A kept-alive connection the server closed as it went idle, just as the
                # request went out: it never reached the server. Sent again, once, on a
                # new connection.
                fresh = True
                continue
            except BaseException:
                answer.close()
                raise
            return answer

    async def _acquire(
        self,
        origin: tuple[str, str, int],
        proxy: Proxy | None,
        departure: Departure,
        errors: ModuleType,
        fresh: bool = False,
    ) -> Connection:
        """A connection to `origin`: a kept-alive one, unless `fresh`, or a new one."""
        key = (origin, proxy)
        while True:
            idle = None if fresh else self._idle.get(key)
            while idle:
                connection = idle.pop()
                if connection.reusable():
                    self._in_use += 1
                    connection.in_use = True
                    departure.connected()
                    return connection
                connection.close()
            if self._in_use < self._max_connections:
                break
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter in self._waiting:
                    self._waiting.remove(waiter)
                else:  # woken and cancelled at once: the free slot is the next one's
                    self._wake_one()
                raise
        self._in_use += 1
        connection = Connection(self, key)
        connection.in_use = True
        departure.connected()
        try:
            await open_connection(connection, origin, proxy, self._ssl_context, errors)
        except BaseException:
            connection.close()
            raise
        self._every.add(connection)
        return connection

    def give_back(self, connection: Connection) -> None:
        self._release_slot(connection)
        connection.idle_since = time.monotonic()
        if self._open and connection.reusable():
            self._idle.setdefault(connection.key, []).append(connection)
            if self._reaper is None:
                self._reap_later()
        else:
            connection.close()

    def _reap(self) -> None:
        """Close the connections idle for KEEPALIVE_SECONDS; look again while any are idle."""
        self._reaper = None
        for connection in [c for idle in self._idle.values() for c in idle]:
            if not connection.reusable():
                connection.close()
        if any(self._idle.values()):
            self._reap_later()

    def _reap_later(self) -> None:
        loop = asyncio.get_running_loop()
        self._reaper = loop.call_later(_http1.KEEPALIVE_SECONDS, self._reap)

    def _release_slot(self, connection: Connection) -> None:
        if connection.in_use:
            connection.in_use = False
            self._in_use -= 1
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def forget(self, connection: Connection) -> None:
        self._release_slot(connection)
        self._every.discard(connection)
        idle = self._idle.get(connection.key)
        if idle and connection in idle:
            idle.remove(connection)

    @property
    def connections(self) -> tuple[int, int]:
        """How many connections are in use and how many are idle, kept for reuse."""
        return self._in_use, sum(len(idle) for idle in self._idle.values())

    @property
    def closed(self) -> bool:
        return not self._open

    async def close(self) -> None:
        self._open = False
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        for connection in list(self._every):
            connection.close()
        self._idle.clear()
        await asyncio.sleep(0)  # the transports finish closing on the loop's next turn

    def drop(self) -> None:
        """Let go of a pool whose event loop closed without closing it: nothing can run
        on that loop any more, so its sockets close as they are collected."""
        self._open = False
        self._reaper = None
        self._every.clear()
        self._idle.clear()


@cache
def transport_class(httpx: ModuleType) -> type[Any]:
    """An httpx (or httpx2) transport over an `AioPool`."""

    class AnswerStream(httpx.AsyncByteStream):  # type: ignore[name-defined]
        def __init__(self, answer: Answer) -> None:
            self._answer = answer

        def __aiter__(self) -> AsyncIterator[bytes]:
            return self._answer.chunks()

        async def aclose(self) -> None:
            self._answer.release()

    class AioTransport(httpx.AsyncBaseTransport):  # type: ignore[name-defined]
        def __init__(self, pool: AioPool) -> None:
            self.pool = pool

        async def handle_async_request(self, request: Any) -> Any:
            try:
                body: Any = request.content or None
            except httpx.RequestNotRead:
                body = request.stream
            # The pool decodes the body and asks for the encodings it decodes: were httpx
            # to decode it, the size cap would count compressed bytes (a gzip bomb).
            headers = [
                (name, value)
                for name, value in request.headers.multi_items()
                if name.lower() != "accept-encoding"
            ]
            answer = await self.pool.send(
                request.method,
                str(request.url),
                headers,
                body,
                request.extensions.get("timeout") or {},
                httpx,
            )
            extensions = {"http_version": b"HTTP/1.1"}
            if answer.reason:
                extensions["reason_phrase"] = answer.reason
            raw_headers = answer.raw_headers
            if answer.decoded:
                raw_headers = decoded_headers(raw_headers)
            return httpx.Response(
                answer.status,
                headers=raw_headers,
                stream=AnswerStream(answer),
                request=request,
                extensions=extensions,
            )

        async def aclose(self) -> None:
            await self.pool.close()

    return AioTransport
