"""The async HTTP pool: one aiohttp session per event loop, for every async provider call.

httpx's async stack (httpcore over anyio) spends about three times aiohttp's CPU on a
request, and its pool scans the whole queue whenever a request starts or ends: under
a burst of routed calls that upkeep was the largest single cost of the process. Every
async request goes through `AioPool.send`, where the rules of a provider request live
once: the departure accounting (`watching_sends`), deadlines for connecting and for
the first answer counted from the send and put off by this process's own lag
(`_loop_lag`), the first-token watch that keep-alive comments cannot extend, the
rate-limit header watch, and aiohttp's errors raised as the matching httpx (or httpx2)
exceptions, so that failure classification and the OpenAI SDK's own error mapping see
what they always saw. `transport_class` hands the pool to httpx and httpx2 clients (the
OpenAI SDK's, through langchain-openai) as a transport; `openmux serve`'s lean path
(`_wire`) calls it directly.

Proxies come from the environment as httpx reads them (HTTP_PROXY, HTTPS_PROXY,
ALL_PROXY, NO_PROXY), once per pool; aiohttp's own `trust_env` would look them up in a
thread on every request.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from openmux.providers._first_token import Departure, FirstTokenWatch
from openmux.providers._loop_lag import first_answer

if TYPE_CHECKING:
    import aiohttp

KEEPALIVE_SECONDS = 4.0
"""How long an idle connection is kept: under the 5 s after which uvicorn and Node servers
close one. aiohttp does not look at a pooled socket before reusing it (httpcore does), so
a request sent as the server closes its end would fail, and a POST is not retried."""
ENDING_SECONDS = 1.0
"""How long a stream that said it is done may take to end its body, in the background,
before its connection is closed rather than pooled."""

_ending: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks

_Proxy = tuple[Any, Any]  # (proxy URL without credentials, its BasicAuth) or (None, None)


class AioPool:
    """One event loop's connections (the aiohttp session is opened on first use, on the
    loop that uses it)."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        max_connections: int,
        on_headers: Callable[[Any], None],
    ) -> None:
        self._ssl_context = ssl_context
        self._max_connections = max_connections
        self._on_headers = on_headers
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str] = {}
        self._proxy_by_origin: dict[tuple[str, str], _Proxy] = {}

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        from openmux import _logging

        _logging.install()  # aiohttp's loggers exist now: mask what they log
        tracing = aiohttp.TraceConfig()
        tracing.on_connection_create_start.append(_on_connection)
        tracing.on_connection_reuseconn.append(_on_connection)
        tracing.on_request_headers_sent.append(_on_headers_sent)
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=0,
            ssl=self._ssl_context,
            keepalive_timeout=KEEPALIVE_SECONDS,
        )
        self._proxies = urllib.request.getproxies_environment()
        self._session = aiohttp.ClientSession(
            connector=connector,
            trace_configs=[tracing],
            # Deadlines are this module's (see `send`); aiohttp's would not wait out lag.
            timeout=aiohttp.ClientTimeout(total=None),
            # One pool serves every provider: no cookie may travel from one to another.
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )
        return self._session

    def _proxy(self, url: str) -> _Proxy:
        if not self._proxies:
            return None, None
        parts = urlsplit(url)
        origin = (parts.scheme, parts.hostname or "")
        found = self._proxy_by_origin.get(origin)
        if found is None:
            found = self._proxy_by_origin[origin] = _env_proxy(self._proxies, *origin)
        return found

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
        from aiohttp import ClientError

        session = self._session if self._session is not None else self._open()
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

        proxy, proxy_auth = self._proxy(url)
        try:
            response = await first_answer(
                session.request(
                    method,
                    url,
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                    auto_decompress=decompress,
                    proxy=proxy,
                    proxy_auth=proxy_auth,
                    trace_request_ctx=departure,
                ),
                due,
                expired,
            )
        except ClientError as exc:
            raise translated(exc, errors) from exc
        finally:
            departure.give_up()
        connection = response.connection
        if read and connection is not None and connection.protocol is not None:
            # From now on `read` bounds each read of the body, as httpx's read timeout does.
            connection.protocol.read_timeout = read
            connection.protocol.start_timeout()
        self._on_headers(response)
        watch = FirstTokenWatch(departure.written or time.monotonic(), read, errors.ReadTimeout)
        return Answer(response, watch, errors)

    @property
    def connections(self) -> tuple[int, int]:
        """How many connections are in use and how many are idle, kept for reuse."""
        if self._session is None or self._session.closed:
            return 0, 0
        connector: Any = self._session.connector
        return len(connector._acquired), sum(len(idle) for idle in connector._conns.values())

    @property
    def closed(self) -> bool:
        return self._session is None or self._session.closed

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def drop(self) -> None:
        """Let go of a pool whose event loop closed without closing it: nothing can run
        on that loop any more, so its sockets close as they are collected."""
        if self._session is not None:
            self._session.detach()


class Answer:
    """A provider's answer whose headers have arrived; its body is read through `chunks`
    (or `read`, `lines`), under the first-token watch."""

    __slots__ = ("_ending", "_errors", "_watch", "response")

    def __init__(
        self, response: aiohttp.ClientResponse, watch: FirstTokenWatch, errors: ModuleType
    ):
        self.response = response
        self._watch = watch
        self._errors = errors
        self._ending = False

    @property
    def status(self) -> int:
        return self.response.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self.response.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        from aiohttp import ClientError

        try:
            async for chunk in self.response.content.iter_any():
                self._watch.check(chunk)
                yield chunk
        except ClientError as exc:
            raise translated(exc, self._errors) from exc

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    async def lines(self) -> AsyncIterator[str]:
        """The body's lines, without their line ends."""
        rest = b""
        async for chunk in self.chunks():
            *complete, rest = (rest + chunk).split(b"\n")
            for line in complete:
                yield line.rstrip(b"\r").decode()
        if rest:
            yield rest.rstrip(b"\r").decode()

    def release(self) -> None:
        """Give the connection back: kept for reuse if the body was read to its end,
        closed otherwise."""
        if not self._ending:
            self.response.release()

    def end_in_background(self) -> None:
        """Release once the body ends: an event stream's `[DONE]` comes a moment before
        the body's own end (the last, empty chunk), and a connection released before that
        is closed instead of pooled. Closed if the end takes over `ENDING_SECONDS`."""
        if self._ending or self.response.content.at_eof():
            self.release()
            return
        self._ending = True
        task = asyncio.get_running_loop().create_task(self._end())
        _ending.add(task)
        task.add_done_callback(_ending.discard)

    async def _end(self) -> None:
        async def rest() -> None:
            async for _ in self.response.content.iter_any():
                pass

        try:
            await asyncio.wait_for(rest(), ENDING_SECONDS)
        except Exception:  # an ending that fails costs only the connection
            pass
        finally:
            self.response.release()


async def _on_connection(session: Any, context: Any, params: Any) -> None:
    departure = context.trace_request_ctx
    if isinstance(departure, Departure):
        departure.connected()


async def _on_headers_sent(session: Any, context: Any, params: Any) -> None:
    departure = context.trace_request_ctx
    if isinstance(departure, Departure):
        departure.wrote()


def _env_proxy(proxies: Mapping[str, str], scheme: str, host: str) -> _Proxy:
    from aiohttp import BasicAuth
    from yarl import URL

    # NO_PROXY, as httpx reads it (the function is public, if missing from typeshed).
    if urllib.request.proxy_bypass_environment(host, proxies):  # type: ignore[attr-defined]
        return None, None
    address = proxies.get(scheme) or proxies.get("all")
    if not address:
        return None, None
    if "://" not in address:
        address = "http://" + address  # as httpx reads a proxy given without a scheme
    proxy = URL(address)
    if proxy.scheme not in ("http", "https"):
        raise ValueError(
            f"the {proxy.scheme} proxy in the environment is not supported for async "
            "requests: give an http:// proxy in HTTP_PROXY / HTTPS_PROXY"
        )
    auth = BasicAuth(proxy.user or "", proxy.password or "") if proxy.user else None
    return proxy.with_user(None), auth


def translated(exc: BaseException, errors: ModuleType) -> Exception:
    """aiohttp's error as the exception httpx raises for the same failure."""
    import aiohttp

    kind: type[Exception]
    if isinstance(exc, (aiohttp.ClientProxyConnectionError, aiohttp.ClientHttpProxyError)):
        kind = errors.ProxyError
    elif isinstance(exc, aiohttp.ClientConnectorError):
        kind = errors.ConnectError
    elif isinstance(exc, aiohttp.ConnectionTimeoutError):
        kind = errors.ConnectTimeout
    elif isinstance(exc, aiohttp.ServerTimeoutError):
        kind = errors.ReadTimeout
    elif isinstance(
        exc,
        (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError),
    ):
        kind = errors.RemoteProtocolError
    elif isinstance(exc, aiohttp.InvalidURL):
        kind = errors.UnsupportedProtocol
    elif isinstance(exc, aiohttp.ClientConnectionError):
        kind = errors.ReadError
    else:
        kind = errors.TransportError
    return kind(str(exc) or type(exc).__name__)


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
            answer = await self.pool.send(
                request.method,
                str(request.url),
                request.headers.multi_items(),
                body,
                request.extensions.get("timeout") or {},
                httpx,
                decompress=False,  # httpx decodes the body itself, as its headers asked
            )
            response = answer.response
            extensions = {"http_version": b"HTTP/1.1"}
            if response.reason:
                extensions["reason_phrase"] = response.reason.encode()
            return httpx.Response(
                response.status,
                headers=response.raw_headers,
                stream=AnswerStream(answer),
                request=request,
                extensions=extensions,
            )

        async def aclose(self) -> None:
            await self.pool.close()

    return AioTransport
