"""A first-token deadline that keep-alive comments cannot extend, and when a request left.

httpx's read timeout restarts on every byte, so a provider that sends
`: OPENROUTER PROCESSING` comments (or, outside streams, blank lines) while it
queues the request would never time out. `FirstTokenWatch` fails the response body
with a ReadTimeout when no real data has arrived within the request's read timeout,
counted from when the request was sent, or when a stream's data then stops for as long
while comments keep its connection open. For the same reason a body that keeps arriving
would never end, so the watch also fails it once the request's total time is up
(`answering_until`), or once it has brought more than `MAX_ANSWER_BYTES`, or the smaller
cap of `answering_at_most` (each client would hold it all in memory: a whole body, or one
line of a stream). Those bytes are counted inflated: the transports decode a gzip or
deflate body themselves (`Inflater`), and ask for no other encoding.

`watching_done` tells the router whether an event stream ended with `data: [DONE]`,
which the OpenAI SDK (and so langchain-openai) consumes without a word: the watch sees
each line go by, on the sync, async and served paths alike.

`watching_sends` tells the router when a request actually left this process: a request
waiting for a connection of this process's own pool has not reached the provider yet,
so its deadlines (the first token, the hedge timer) have not started and a timeout while
it waits is this process's saturation, not the provider's failure. A `Departure` marks
the moment the request got its connection (connecting, or taking a pooled one) and the
moment its headers were written; the async pool (`_aio`) adds the deadlines counted from
then.

The sync transport here (httpx's, with httpcore's trace events) is built per httpx
module: the OpenAI SDK 3 speaks `httpx2` (an API-identical fork), Ollama's client
speaks `httpx`.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from contextvars import ContextVar, Token
from functools import cache
from types import ModuleType
from typing import Any, Generic, TypeVar

from openmux import _json
from openmux.providers._failures import MALFORMED_ANSWER, ProviderFailure

T = TypeVar("T")

MAX_ANSWER_BYTES = 128 << 20
"""The most of one answer read: far above any chat answer, a batch of embeddings or an
image, and a provider sending more is broken (no endless body fills this memory)."""


class Sends:
    """The provider requests made under one `watching_sends` (one call, or one candidate
    of a race): how many were handed to the pool, how many left this process, how many
    failed before leaving, and when the first one left (`time.monotonic`)."""

    __slots__ = ("asked", "dropped", "first_sent", "sent")

    def __init__(self) -> None:
        self.asked = 0
        self.sent = 0
        self.dropped = 0
        self.first_sent: float | None = None

    @property
    def never_sent(self) -> bool:
        """Requests were made and none left this process (each waited for a connection
        of its own pool): whatever happened to them, the provider never saw them."""
        return self.asked > 0 and self.sent == 0

    def clock_start(self, started: float) -> float | None:
        """When the provider's clock started for a call begun at `started`: its first
        send; None while its request still waits for a connection here; `started` for
        a call that sends nothing over HTTP (an in-process model)."""
        if self.first_sent is not None:
            return self.first_sent
        return None if self.asked > self.dropped else started


class Watch(Generic[T]):
    """`with`: a context variable holds `value` until the block ends; `as` gives `gives`.
    A class, not a `contextmanager` generator: every provider call opens several of
    these watches, and a generator's costs about four times as much."""

    __slots__ = ("_gives", "_token", "_value", "_var")

    def __init__(self, var: ContextVar[Any], value: object, gives: T) -> None:
        self._var = var
        self._value = value
        self._gives = gives
        self._token: Token[Any] | None = None

    def __enter__(self) -> T:
        self._token = self._var.set(self._value)
        return self._gives

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        self._var.reset(self._token)


_sends: ContextVar[tuple[Sends, ...]] = ContextVar("openmux_sends", default=())


def watching_sends() -> Watch[Sends]:
    """Count the provider requests that follow on this thread or task (and in tasks and
    threads started from it); watches nest, each sees every request."""
    sends = Sends()
    return Watch(_sends, (*_sends.get(), sends), sends)


def restart_clocks() -> None:
    """A call is about to wait out a retry's delay: its provider clock starts again when the
    retry is sent. Until then it reads as not started, so no hedge races a candidate that is
    only doing what the provider asked (waiting out a short Retry-After)."""
    for sends in _sends.get():
        sends.first_sent = None


_answer_due: ContextVar[float | None] = ContextVar("openmux_answer_due", default=None)


def answering_until(due: float) -> Watch[float]:
    """The provider answers asked for on this thread or task (and in tasks and threads
    started from it) fail with a timeout once `due` (`time.monotonic`) has passed, however
    steadily their bytes arrive: a request's total time."""
    return Watch(_answer_due, due, due)


class StreamDone:
    """Whether an event stream's `data: [DONE]` came: the stream's own end, which some
    OpenAI-compatible servers send without ever giving a finish reason. The OpenAI SDK
    stops at it without a word, so the bytes are watched for it on their way in."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen = False


_stream_done: ContextVar[StreamDone | None] = ContextVar("openmux_stream_done", default=None)


def watching_done() -> Watch[StreamDone]:
    """Note whether the event stream of the provider request that follows on this thread
    or task (or in tasks and threads started from it) ends with `data: [DONE]`."""
    done = StreamDone()
    return Watch(_stream_done, done, done)


_answer_cap: ContextVar[int | None] = ContextVar("openmux_answer_cap", default=None)


def answering_at_most(size: int) -> Watch[int]:
    """The provider answers asked for on this thread or task fail once they have brought
    more than `size` bytes (inflated), a cap below `MAX_ANSWER_BYTES` for an answer known
    to be small (a model listing: each byte read becomes many once parsed)."""
    return Watch(_answer_cap, size, size)


class Departure:
    """One request's way out: asked on entering the transport, sent when it has a
    connection (connecting, or taking a pooled one), written when its headers are, given
    up if it fails before it was sent."""

    __slots__ = ("at", "opened", "watches", "written")

    def __init__(self) -> None:
        self.watches = _sends.get()
        self.at: float | None = None
        self.written: float | None = None
        self.opened = False  # a new connection was opened for it (not a kept-alive one)
        for sends in self.watches:
            sends.asked += 1

    def due(self, connect: float | None, read: float | None) -> float | None:
        """The deadline of the phase the request is in: connecting (from when it got its
        connection) or waiting for the answer (from when it was written); None while it
        waits for a connection."""
        if self.written is not None:
            return self.written + read if read else float("inf")
        if self.at is not None:
            return self.at + connect if connect else float("inf")
        return None

    def connected(self) -> None:
        if self.at is None:
            self.at = time.monotonic()
            for sends in self.watches:
                sends.sent += 1
                if sends.first_sent is None:
                    sends.first_sent = self.at

    def wrote(self) -> None:
        self.connected()
        if self.written is None:
            self.written = time.monotonic()

    def note(self, event: str) -> None:
        """An httpcore trace event: the first one means the request has its connection."""
        if event.endswith("send_request_headers.started"):
            self.wrote()
        else:
            self.opened = self.opened or event.startswith("connection.connect_tcp")
            self.connected()

    def give_up(self) -> None:
        """The request failed before it was sent (a pool timeout): no longer waiting."""
        if self.at is None:
            for sends in self.watches:
                sends.dropped += 1


def _traced(request: Any, departure: Departure) -> None:
    outer = request.extensions.get("trace")

    def trace(name: str, info: Any) -> None:
        departure.note(name)
        if outer is not None:
            outer(name, info)

    request.extensions = {**request.extensions, "trace": trace}


class FirstTokenWatch:
    """Fails a body whose first real data (not a keep-alive comment or blank line, nor
    an event stream's data event with nothing in it) is later than `limit` seconds after
    `started`, whose data then stops for more than `limit` seconds while only such
    comments or events arrive, that is still arriving when the request's total time
    (`answering_until`) is up, or that is too large.

    A body that goes wholly silent is ended by the read timeout each wait for more of
    it has (the same `limit`); comments would restart that one, so the gap between two
    pieces of data is watched here: a stream whose provider stalled behind a proxy that
    keeps the connection open ends as surely as one whose provider went quiet."""

    def __init__(self, started: float, limit: float | None, timeout_error: type[Exception]) -> None:
        self.started = started
        self.limit = limit
        self.timeout_error = timeout_error
        self.last_data: float | None = None  # when the latest piece of real data came
        self._begun = b""  # the start of the line a chunk left unfinished, up to _PEEK
        # Asked for now: the body may be read elsewhere.
        self.due = _answer_due.get()
        self.done = _stream_done.get()
        self.cap = _answer_cap.get() or MAX_ANSWER_BYTES
        self.received = 0

    def check(self, chunk: bytes) -> None:
        if self.due is not None and time.monotonic() > self.due:
            raise self.timeout_error(
                "the answer was still arriving when the request's total time ran out "
                "(timeouts.total)"
            )
        self.received += len(chunk)
        if self.received > self.cap:
            raise _too_large(self.cap)
        if self.limit is None:
            if self.done is not None:
                self._brings_data(chunk)
            return
        now = time.monotonic()
        if self._brings_data(chunk):
            self.last_data = now
            return
        if self.last_data is None:
            if now - self.started > self.limit:
                raise self.timeout_error(
                    f"no data within {self.limit:g} s (keep-alive comments only)"
                )
        elif now - self.last_data > self.limit:
            raise self.timeout_error(
                f"no data for {self.limit:g} s since the last (keep-alive comments only)"
            )

    def _brings_data(self, chunk: bytes) -> bool:
        """Whether the chunk holds a piece of a line that is neither blank nor a comment
        (noting an event stream's `[DONE]` among its lines)."""
        *ended, rest = chunk.split(b"\n")
        brings = False
        for line in ended:
            brings = self._line_brings_data(self._begun + line[:_PEEK]) or brings
            self._begun = b""
        if rest:
            self._begun = (self._begun + rest[:_PEEK])[:_PEEK]
            begun = self._begun.lstrip()
            # A short data event is judged once it is whole; a long one says something.
            pending = len(self._begun) < _PEEK and _DATA.startswith(begun[: len(_DATA)])
            brings = brings or (not pending and _is_data(begun))
        return brings

    def _line_brings_data(self, line: bytes) -> bool:
        line = line.strip()
        if not line.startswith(_DATA):
            return _is_data(line)
        data = line[len(_DATA) :].strip()
        if data == b"[DONE]":
            if self.done is not None:
                self.done.seen = True
            return True
        return len(line) >= _PEEK or _event_says_something(data)


_DATA = b"data:"
_PEEK = 2048
"""How much of an arriving line is kept to read it whole once it ends: far more than a
data event with nothing in it takes (its id, model and an empty delta)."""


def _event_says_something(data: bytes) -> bool:
    """Whether an event stream's data event brings anything: a chat completion chunk whose
    deltas are empty (or name the role alone), with no finish reason, usage or error, is
    a keep-alive in all but name. Reasoning, refusals and tool calls are something; so is
    anything that is not such a chunk (the reader makes of it what it can)."""
    try:
        event = _json.loads(data)
    except (ValueError, RecursionError):
        return True
    if not isinstance(event, dict):
        return True
    choices = event.get("choices")
    if not isinstance(choices, list) or event.get("usage") or event.get("error"):
        return True
    return any(_choice_says_something(choice) for choice in choices)


def _choice_says_something(choice: Any) -> bool:
    if not isinstance(choice, dict):
        return True
    delta = choice.get("delta")
    if choice.get("finish_reason") or not isinstance(delta, dict):
        return True
    return any(value for name, value in delta.items() if name != "role")


def _is_data(line: bytes) -> bool:
    """A piece of a line that is neither blank nor a keep-alive comment."""
    line = line.lstrip()
    return bool(line) and not line.startswith(b":")


def _too_large(cap: int) -> ProviderFailure:
    return ProviderFailure("bad_response", f"the answer is larger than {cap >> 20} MiB")


@cache
def malformed_answer(httpx: ModuleType) -> type[Exception]:
    """The error of an answer whose HTTP framing broke after its status line (a chunk size
    that is none, a body cut short of its length), for this httpx: a protocol error as
    httpx raises it, that the failure mapping tells from a connection lost before any
    answer (sent again) by its name."""
    # Of httpx's module, as its other errors: where the SDK's wrapper is looked through.
    return type(MALFORMED_ANSWER, (httpx.RemoteProtocolError,), {"__module__": httpx.__name__})


INFLATED = frozenset({"gzip", "x-gzip", "deflate"})
"""The content encodings this client decodes itself, and so the only ones it asks for."""
ACCEPT_ENCODING = "gzip, deflate"
_PIECE = 1 << 16


class Inflater:
    """A gzip or deflate body decoded as it arrives, in pieces of at most 64 KiB, and
    failed once it inflates past `MAX_ANSWER_BYTES`: a few KiB of compressed zeros can
    inflate to gigabytes, so the cap has to count what the body inflates to, piece by
    piece, not what came over the wire. Raises `zlib.error` for a body that does not
    decode."""

    def __init__(self) -> None:
        self._decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # zlib or gzip framing
        self.inflated = 0

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            piece = self._decoder.decompress(data, _PIECE)
            data = self._decoder.unconsumed_tail
            self.inflated += len(piece)
            if self.inflated > MAX_ANSWER_BYTES:
                raise _too_large(MAX_ANSWER_BYTES)
            if piece:
                yield piece
            if not data and len(piece) < _PIECE:  # a whole piece may leave more inside
                return

    def flush(self) -> bytes:
        """What the decoder still holds: a few KiB at most, once all was fed."""
        return self._decoder.flush()


def _inflater(response: Any, httpx: ModuleType) -> Inflater | None:
    """An inflater for the response's body if it is encoded (its head then says no more
    that it is, nor its encoded length); an encoding that was not asked for fails it."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding not in INFLATED:
        response.close()
        raise httpx.DecodingError(f"an answer in {encoding}, which was not asked for")
    del response.headers["content-encoding"]
    response.headers.pop("content-length", None)
    return Inflater()


def _read_limit(request: Any) -> float | None:
    timeout: Any = request.extensions.get("timeout") or {}
    limit = timeout.get("read")
    return float(limit) if limit else None


@cache
def sync_transport_class(httpx: ModuleType) -> type[Any]:
    """httpx's sync transport with departures and the first-token deadline, for this httpx."""

    class SyncStream(httpx.SyncByteStream):  # type: ignore[name-defined]
        def __init__(self, stream: Any, watch: FirstTokenWatch, inflater: Inflater | None) -> None:
            self._stream = stream
            self._watch = watch
            self._inflater = inflater

        def __iter__(self) -> Iterator[bytes]:
            try:
                for chunk in self._stream:
                    for piece in self._decoded(chunk):
                        self._watch.check(piece)
                        yield piece
            except httpx.RemoteProtocolError as exc:  # the head came: the body is garbage
                raise malformed_answer(httpx)(f"a malformed HTTP answer: {exc}") from None
            if self._inflater is not None:
                rest = self._inflater.flush()
                if rest:
                    self._watch.check(rest)
                    yield rest

        def _decoded(self, chunk: bytes) -> Iterator[bytes]:
            if self._inflater is None:
                yield chunk
                return
            try:
                yield from self._inflater.feed(chunk)
            except zlib.error as exc:
                raise httpx.DecodingError(f"the answer does not decompress: {exc}") from None

        def close(self) -> None:
            self._stream.close()

    class FirstTokenTransport(httpx.HTTPTransport):  # type: ignore[name-defined]
        def handle_request(self, request: Any) -> Any:
            # This transport decodes the body, so that the size cap counts it inflated
            # (httpx would decode it after the cap, and in encodings not bounded here).
            request.headers["Accept-Encoding"] = ACCEPT_ENCODING
            departure = Departure()
            _traced(request, departure)
            try:
                try:
                    response = super().handle_request(request)
                except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                    # A reset, or a close before any answer (in httpcore's words); not a
                    # malformed answer.
                    cut = not isinstance(exc, httpx.RemoteProtocolError) or (
                        "without sending" in str(exc)
                    )
                    if departure.opened or not cut:
                        raise
                    # A kept-alive connection the server closed as it went idle, just as
                    # the request went out: it never reached the server. Sent again, once.
                    response = super().handle_request(request)
            finally:
                departure.give_up()
            started = departure.written or time.monotonic()
            watch = FirstTokenWatch(started, _read_limit(request), httpx.ReadTimeout)
            response.stream = SyncStream(response.stream, watch, _inflater(response, httpx))
            return response

    return FirstTokenTransport
