"""HTTP/1.1 on one keep-alive connection, for the async pool (`_aio`): the request's
head, the answer read as it arrives (llhttp, through httptools, parses it), gzip and
deflate bodies decoded. Opening the connection, directly or through a proxy, is
`_connect`'s.

A connection serves one request at a time. Its answer's body is buffered until read,
and the socket stops being read while too much of it waits; a body read to its end
gives the connection back to its pool, anything else closes it.
"""

from __future__ import annotations

import asyncio
import base64
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from functools import cache, lru_cache
from types import ModuleType
from typing import Any, NamedTuple, Protocol
from urllib.parse import SplitResult, unquote, urlsplit

from openmux.providers._failures import ProviderFailure
from openmux.providers._first_token import INFLATED, FirstTokenWatch, Inflater, malformed_answer

KEEPALIVE_SECONDS = 4.0
"""How long an idle connection is kept: under the 5 s after which uvicorn and Node servers
close one, so that a request is not sent just as the server closes its end (a POST on
such a connection fails, and is not retried)."""
ENDING_SECONDS = 1.0
"""How long a stream that said it is done may take to end its body, in the background,
before its connection is closed rather than pooled."""
_PAUSE_AT = 1 << 18
"""Unread body bytes at which the socket stops being read (a slow reader of a fast
stream must not buffer it all), until a quarter of that is left."""
MAX_HEAD = 1 << 16
"""Bytes of status line and headers an answer may have: past that it is garbage."""
_DEFAULT_PORTS = {"http": 80, "https": 443}


class _Undecodable(ValueError):
    """A body its Content-Encoding does not describe: the provider's garbage, raised as
    the httpx module's DecodingError (a bad response, not a failed connection)."""


class Target(NamedTuple):
    origin: tuple[str, str, int]  # scheme, host, port: what a connection is for
    host_header: str
    path: str  # with the query
    authorization: str | None  # from credentials in the URL


@lru_cache(maxsize=512)
def target_of(url: str) -> Target | None:
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    port = parts.port or _DEFAULT_PORTS[parts.scheme]
    netloc = parts.netloc.rpartition("@")[2]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target((parts.scheme, parts.hostname, port), netloc, path, basic_credentials(parts))


def basic_credentials(parts: SplitResult) -> str | None:
    """Basic authorization from the credentials in a URL, if it has any."""
    if parts.username is None:
        return None
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


class Proxy(NamedTuple):
    host: str
    port: int
    authorization: str | None
    tls: bool  # an https:// proxy: TLS to the proxy itself


class Pool(Protocol):
    """What a connection asks of the pool it belongs to."""

    def give_back(self, connection: Connection) -> None: ...

    def forget(self, connection: Connection) -> None: ...


class Connection(asyncio.Protocol):
    """One keep-alive connection; the answer being read gets what arrives on it."""

    def __init__(self, pool: Pool, key: Any) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.answer: Answer | None = None
        self.in_use = False
        self.lost = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        answer = self.answer
        if answer is None:  # bytes nobody asked for: the connection cannot be trusted
            self.close()
            return
        answer.feed(data)

    def eof_received(self) -> None:
        return None  # the transport closes, and connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.pool.forget(self)
        if self.answer is not None:
            self.answer.lost(exc)

    def write(self, data: bytes, errors: ModuleType) -> None:
        if self.lost or self.transport is None or self.transport.is_closing():
            raise errors.RemoteProtocolError("the server closed the connection")
        self.transport.write(data)

    def reusable(self) -> bool:
        return (
            not self.lost
            and self.transport is not None
            and not self.transport.is_closing()
            and time.monotonic() - self.idle_since < KEEPALIVE_SECONDS
        )

    def close(self) -> None:
        self.lost = True
        self.pool.forget(self)
        if self.transport is not None:
            self.transport.close()


class Answer:
    """A provider's answer whose headers have arrived; its body is read through `chunks`
    (or `read`, `lines`), under the first-token watch."""

    def __init__(
        self, connection: Connection, errors: ModuleType, decompress: bool, head_only: bool
    ) -> None:
        import httptools

        self._connection = connection
        self._errors = errors
        self._decompress = decompress
        self._head_only = head_only
        self._parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        self.arrived: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.status = 0
        self.reason = b""
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.headers: dict[str, str] = {}
        self.watch: FirstTokenWatch | None = None
        self.read_timeout: float | None = None
        self._head_bytes = 0
        self.heard = False  # any byte of an answer arrived
        self._decoder: Inflater | None = None
        self.decoded = False  # the body is read as it inflates (its head says it is encoded)
        self._until_close = False
        self._body: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._error: Exception | None = None
        self.complete = False
        self._keep_alive = False
        self._released = False
        self._release_when_complete = False

    # What arrives on the connection

    def feed(self, data: bytes) -> None:
        if self._parser is None:
            return  # released: the connection has no answer to feed now
        self.heard = True
        try:
            self._parser.feed_data(data)
        except Exception as exc:  # httptools' parse errors, or an answer past its end
            raised = exc.__context__  # what a parser callback raised
            if isinstance(raised, _Undecodable):
                self._fail(self._errors.DecodingError(str(raised)))
            elif isinstance(raised, ProviderFailure):
                self._fail(raised)
            else:
                self._fail(self._protocol_error(f"a malformed HTTP answer: {exc}"))

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value)
        if self._head_bytes > MAX_HEAD:
            raise ValueError("headers too long")
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.arrived.done():  # a second answer to one request
            raise ValueError("more than one answer")
        assert self._parser is not None  # parser callbacks come while it parses
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            self.raw_headers = []
            return
        self.status = status
        headers: dict[str, str] = {}
        for raw_name, raw_value in self.raw_headers:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.headers = headers
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self._until_close = "content-length" not in headers and not chunked
        encoding = headers.get("content-encoding", "").strip().lower()
        if self._decompress and encoding in INFLATED:
            self._decoder = Inflater()
            self.decoded = True
        elif self._decompress and encoding not in ("", "identity"):
            raise _Undecodable(f"an answer in {encoding}, which was not asked for")
        self.arrived.set_result(None)
        if self._head_only:
            self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        if self._decoder is None:
            self._keep(body)
            return
        try:
            for piece in self._decoder.feed(body):
                self._keep(piece)
        except zlib.error as exc:
            raise _Undecodable(f"the answer does not decompress: {exc}") from None

    def _keep(self, body: bytes) -> None:
        if not body or self.complete or self._release_when_complete:
            return  # an ending stream's rest is not read
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > _PAUSE_AT and not self._paused and self._connection.transport:
            self._paused = True
            self._connection.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.status == 0:
            return  # the end of an interim answer
        if self.complete:
            return
        if self._decoder is not None:
            rest = self._decoder.flush()
            if rest:
                self._body.append(rest)
        # Asked here: once this callback returns, the parser is reset for a next answer.
        assert self._parser is not None
        self._keep_alive = self._parser.should_keep_alive() and not self._head_only
        self.complete = True
        self._wake()
        if self._release_when_complete:
            self.release()

    def lost(self, exc: Exception | None) -> None:
        if self.complete:
            return
        if self._until_close and exc is None and self.arrived.done():
            self.on_message_complete()  # a body without a length ends with the connection
            return
        if not self.arrived.done():
            why = "the server disconnected without sending an answer"
        else:
            why = "the server disconnected in the middle of the answer"
        if exc is not None:  # a reset: the network's doing as likely as the provider's
            self._fail(self._errors.RemoteProtocolError(f"{why}: {exc}"))
        else:  # closed on purpose, before the body's framing said it ended
            self._fail(self._protocol_error(why))

    def _protocol_error(self, message: str) -> Exception:
        """A protocol error: once the head came, the provider's garbage, not a connection
        lost before its answer (see `malformed_answer`)."""
        if self.arrived.done():
            return malformed_answer(self._errors)(message)
        return self._errors.RemoteProtocolError(message)

    def _fail(self, error: Exception) -> None:
        if self._error is None:
            self._error = error
        if not self.arrived.done():
            self.arrived.set_exception(error)
            self.arrived.exception()  # read here: the sender may be gone (cancelled)
        self._wake()
        self._connection.close()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # What the caller reads

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            if self._body:
                yield self._take()
            elif self._error is not None:
                raise self._error
            elif self.complete:
                self.release()  # read to its end: the connection can serve the next request
                return
            else:
                await self._more()

    def _take(self) -> bytes:
        """The first chunk that arrived and is not read yet."""
        chunk = self._body.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered < _PAUSE_AT // 4:
            self._paused = False
            if self._connection.transport is not None:
                self._connection.transport.resume_reading()
        if self.watch is not None:
            try:
                self.watch.check(chunk)
            except Exception:
                self.close()  # the rest of the answer is not wanted: its connection neither
                raise
        return chunk

    async def _more(self) -> None:
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        limit = self.read_timeout
        timer = loop.call_later(limit, _expire, waiter) if limit else None
        try:
            await waiter
        except TimeoutError:
            assert limit is not None
            raise self._errors.ReadTimeout(f"no data within {limit:g} s") from None
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    async def read(self) -> bytes:
        if not self.complete or self._error is not None:
            return b"".join([chunk async for chunk in self.chunks()])
        # The whole answer is in, as a short one comes with its head: no stream to wait on.
        body = b"".join([self._take() for _ in range(len(self._body))])
        self.release()
        return body

    async def lines(self) -> AsyncIterator[str]:
        """The body's lines, without their line ends."""
        # The start of an unfinished line, in pieces: joined once its end comes, not
        # copied again with each piece (a line of megabytes comes in thousands).
        begun: list[bytes] = []
        async for chunk in self.chunks():
            if b"\n" not in chunk:
                begun.append(chunk)
                continue
            if begun:
                begun.append(chunk)
                chunk = b"".join(begun)
            *complete, rest = chunk.split(b"\n")
            begun = [rest] if rest else []
            for line in complete:
                yield line.rstrip(b"\r").decode()
        if begun:
            yield b"".join(begun).rstrip(b"\r").decode()

    def release(self) -> None:
        """Give the connection back (reading the body to its end does): kept for reuse
        if the body was read to its end, closed otherwise."""
        if self._released or (self._release_when_complete and not self.complete):
            return  # released already, or on its own when the body ends
        self._released = True
        connection = self._connection
        connection.answer = None
        self._drop_parser()
        if self.complete and self._error is None and self._keep_alive:
            connection.pool.give_back(connection)
        else:
            connection.close()

    def close(self) -> None:
        """Give up on the answer: its connection is closed."""
        self._released = True
        self._connection.answer = None
        self._drop_parser()
        self._connection.close()

    def _drop_parser(self) -> None:
        """Nothing more arrives for this answer. The parser holds the answer's callbacks,
        a cycle: broken here, the answer is freed as soon as its reader lets go of it,
        rather than by the cyclic garbage collector."""
        self._parser = None

    def end_in_background(self) -> None:
        """Release once the body ends: an event stream's `[DONE]` comes a moment before
        the body's own end (the last, empty chunk), and a connection released before that
        is closed instead of pooled. Closed if the end takes over `ENDING_SECONDS`."""
        if self.complete or self._error is not None:
            self.release()
            return
        self._release_when_complete = True
        self._body.clear()
        if self._paused and self._connection.transport is not None:
            self._paused = False
            self._connection.transport.resume_reading()
        asyncio.get_running_loop().call_later(ENDING_SECONDS, self._end_late)

    def _end_late(self) -> None:
        if not self._released:
            self.close()


_ENCODED = frozenset({b"content-encoding", b"content-length"})


def decoded_headers(raw_headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """An answer's headers as they hold for its body once decoded: no encoding, and no
    length (that was the encoded body's)."""
    return [(name, value) for name, value in raw_headers if name.lower() not in _ENCODED]


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


async def content_of(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    if hasattr(body, "__aiter__"):
        return b"".join([bytes(part) async for part in body])
    return b"".join(bytes(part) for part in body)


_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


def request_head(
    method: str,
    target: Target,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    length: int,
    decompress: bool,
    proxy: Proxy | None,
) -> bytes:
    request_target = target.path
    if proxy is not None:  # a proxy forwarding a plain http:// request takes the whole URL
        request_target = f"http://{target.host_header}{target.path}"
    lines = [f"{method} {request_target} HTTP/1.1"]
    given: set[str] = set()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in pairs:
        lowered = name.lower()
        if lowered in _FRAMING:
            continue  # the body is sent whole, with its length: this client frames it
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"the {name} header holds a line break")
        given.add(lowered)
        lines.append(f"{name}: {value}")
    if "host" not in given:
        lines.insert(1, f"host: {target.host_header}")
    if "accept-encoding" not in given and decompress:
        lines.append("accept-encoding: gzip, deflate")
    if "user-agent" not in given:
        lines.append(f"user-agent: {user_agent()}")
    if target.authorization and "authorization" not in given:
        lines.append(f"authorization: {target.authorization}")
    if proxy is not None and proxy.authorization:
        lines.append(f"proxy-authorization: {proxy.authorization}")
    if length or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        lines.append(f"content-length: {length}")
    lines.append("\r\n")
    text = "\r\n".join(lines)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode()


@cache
def user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"openmux/{version('openmux')}"
    except PackageNotFoundError:
        return "openmux"
