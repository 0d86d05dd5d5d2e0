"""`POST /v1/chat/completions`: one ChatOpenMux request, answered or streamed.

The request is built first (`ChatOpenMux.route_request`), so the route can be read
from it as it forms: a stream's `x-openmux-*` headers leave with its first chunk,
once failover and races are over. Unless the request fans out, it also carries the
body as it came: an OpenAI-protocol provider is sent that body (model swapped,
quirks applied) instead of a conversion to LangChain messages and back.
"""

from __future__ import annotations

import asyncio
import string
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import quote

from langchain_core.messages import AIMessageChunk, BaseMessageChunk
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from openmux import _json
from openmux._logging import get_logger
from openmux.errors import OpenMuxError
from openmux.server._errors import APIError, stream_error_event, timeout_error
from openmux.server._wire import (
    ChunkWriter,
    call_options,
    completion,
    completion_id,
    includes_usage,
    is_streamed,
    to_messages,
)

if TYPE_CHECKING:
    from starlette.requests import Request

    from openmux.routing import RouteRequest
    from openmux.server._app import OpenMuxServer

# Past the router's own deadline, a last guard: the answer is late, say so.
_TIMEOUT_GRACE_S = 5.0
_RATE_LIMIT_PREFIX = "x-ratelimit-"
_RATE_LIMIT_VALUE_MAX = 200
CACHED_HEADER = "x-openmux-cached"
FANOUT_HEADER = "x-openmux-fanout"
"""A fan-out's models: those that were asked, then how many the request wanted
("2/3": only two distinct models could answer)."""
# The body field holding OpenMux's own options: never sent to a provider.
_EXTENSION = "openmux"

# What a header value keeps as it is when it must be percent-encoded: printable ASCII but '%'.
_HEADER_SAFE = string.punctuation.replace("%", "") + " "

_log = get_logger("openmux.server")
T = TypeVar("T")


def _header_value(value: object) -> str:
    """`value` as a response header can carry it. A model id comes from the client (a pin
    is sent on as given) or from a provider's listing, and may hold what no header can
    (text beyond Latin-1, CR/LF): such a value is percent-encoded (UTF-8)."""
    text = str(value)
    if text.isascii() and text.isprintable():
        return text
    return quote(text, safe=_HEADER_SAFE)


def route_headers(
    meta: Mapping[str, Any], started: float, waited_ms: float, attempts: int
) -> dict[str, str]:
    """The `x-openmux-*` headers. Overhead is OpenMux's own time: what is left of the
    request's time once `waited_ms` (on providers, and backing off between tries) is out."""
    elapsed_ms = (time.perf_counter() - started) * 1000
    headers = {
        "x-openmux-provider": _header_value(meta.get("provider")),
        "x-openmux-model": _header_value(meta.get("model")),
        "x-openmux-task": _header_value(meta.get("task")),
        "x-openmux-attempts": str(attempts),
        "x-openmux-overhead-ms": f"{max(0.0, elapsed_ms - waited_ms):.2f}",
    }
    if meta.get("cached"):
        headers[CACHED_HEADER] = "true"
    used = meta.get("fanout_used")
    if used is not None:
        headers[FANOUT_HEADER] = f"{used}/{meta.get('fanout_requested', used)}"
    return headers


def rate_limit_headers(route: RouteRequest) -> dict[str, str]:
    """The answering provider's `x-ratelimit-*` headers (counts and reset times only: a
    longer value is dropped, not passed on to clients that cap a header's size)."""
    return {
        name: _header_value(value)
        for name, value in route.rate_limit_headers.items()
        if name.startswith(_RATE_LIMIT_PREFIX) and len(value) <= _RATE_LIMIT_VALUE_MAX
    }


def _attempts_ms(meta: Mapping[str, Any]) -> float:
    return float(sum(a.get("latency_ms") or 0 for a in meta.get("attempts") or ()))


def answer_headers(
    meta: Mapping[str, Any], started: float, paused_ms: float = 0.0
) -> dict[str, str]:
    """`route_headers` for an answer whose attempts are all recorded (`paused_ms`: the
    request's back-off between them)."""
    waited_ms = _attempts_ms(meta) + paused_ms
    return route_headers(meta, started, waited_ms, len(meta.get("attempts") or ()))


def cache_options(cache_control: str | None) -> tuple[bool, bool]:
    """(read, write): whether the response cache may answer the request and keep its
    answer, from the request's `Cache-Control` (`no-cache`: answer fresh but keep it;
    `no-store`: neither)."""
    directives = {d.strip().lower() for d in (cache_control or "").split(",")}
    no_store = "no-store" in directives
    return not (no_store or "no-cache" in directives), not no_store


async def chat_completions(server: OpenMuxServer, request: Request) -> Response:
    started = time.perf_counter()
    body = await server.read_json(request)
    options = {**server.route_options(body), **call_options(body)}
    streamed = is_streamed(body)
    include_usage = includes_usage(body)
    messages = to_messages(body)
    if "fanout" not in options:
        options["openai_body"] = {k: v for k, v in body.items() if k != _EXTENSION}
    read_cache, write_cache = cache_options(request.headers.get("cache-control"))
    if not write_cache:
        options["cache"] = False
    try:
        route = server.chat.route_request(messages, **options)
    except OpenMuxError as exc:
        raise server.failure(exc, started) from exc
    route.cache_read = read_cache
    if streamed:
        return await _stream(server, body["model"], route, include_usage, started)
    route.settle_later = []
    try:
        message = await _within(
            server.total_timeout_s + _TIMEOUT_GRACE_S, server.chat.aanswer_request(route)
        )
    except BaseException as exc:
        route.settled()  # what succeeded before the failure (a hedge's answer, say)
        if isinstance(exc, OpenMuxError):
            raise server.failure(exc, started) from exc
        if isinstance(exc, asyncio.TimeoutError):
            raise timeout_error(server.total_timeout_s) from exc
        raise
    meta = message.response_metadata.get("openmux") or {}
    route.settle(server.metrics.record_attempts, meta.get("attempts") or ())
    answered_by = f"{meta.get('provider')}:{meta.get('model')}"
    payload = completion(message, answered_by, completion_id())
    headers = {**answer_headers(meta, started, route.paused_ms), **rate_limit_headers(route)}
    return SettlingResponse(_json.dumps(payload), headers, route)


class SettlingResponse(Response):
    """A JSON answer whose request's bookkeeping (`RouteRequest.settle_later`) runs once
    it is sent, or once sending failed (a client that left): the client does not wait
    for the counts, and none is lost."""

    media_type = "application/json"

    def __init__(self, content: bytes, headers: Mapping[str, str], route: RouteRequest) -> None:
        super().__init__(content, headers=headers)
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.route.settled()


async def _within(seconds: float, answer: Awaitable[T]) -> T:
    """`answer`, or TimeoutError after `seconds`; where asyncio has `timeout`, in this task
    (`wait_for` before Python 3.12 runs it in a task of its own, a cost per request)."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await answer
    return await asyncio.wait_for(answer, seconds)


async def _stream(
    server: OpenMuxServer, model: str, route: RouteRequest, include_usage: bool, started: float
) -> Response:
    # One task runs the whole stream (its context stays in one task) and hands events
    # over; nothing is sent before the first one, so failures up to there (every
    # candidate failed, benched, over quota) get their own status code, and the route
    # is known by then: it leaves in the headers.
    events: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
    writer = ChunkWriter(model, completion_id(), include_usage)

    async def produce() -> None:
        metadata: dict[str, Any] = {}
        try:
            stream = cast(
                "AsyncGenerator[BaseMessageChunk, None]", server.chat.astream_request(route)
            )
            async with aclosing(stream) as chunks:
                async for chunk in chunks:
                    meta = chunk.response_metadata.get("openmux")
                    if meta is not None:
                        metadata.update(meta)
                    event = writer.delta(chunk) if isinstance(chunk, AIMessageChunk) else None
                    if event is not None:
                        events.put_nowait(event)
            server.metrics.record_attempts(metadata.get("attempts") or ())
            events.put_nowait(writer.end(metadata or None))
        except Exception as exc:
            events.put_nowait(exc)
        except asyncio.CancelledError:  # the client left: what was asked of providers counts
            server.metrics.record_attempts(route.metadata()["attempts"])
            raise
        finally:
            events.put_nowait(None)

    producer = asyncio.create_task(produce())
    first = await events.get()
    if isinstance(first, BaseException):
        raise _stream_failure(server, first, started)
    headers = _stream_headers(route, started)

    async def body() -> AsyncIterator[bytes]:
        item: bytes | BaseException | None = first
        try:
            while isinstance(item, bytes):
                yield item
                item = await events.get()
            if isinstance(item, BaseException):
                # After the first chunk a failure cannot fail over: the client must
                # see an error, never a clean end of a truncated answer.
                yield stream_error_event(_stream_failure(server, item, started))
        finally:
            producer.cancel()

    def stop() -> None:
        producer.cancel()
        events.put_nowait(None)

    return EventStream(body(), headers, on_disconnect=stop)


class EventStream(StreamingResponse):
    """An SSE response that stops its answer when the client leaves. Starlette's own
    watches for that in an anyio task group, which costs a stream more than its events
    under servers of ASGI spec < 2.4 (uvicorn); here one task waits for the disconnect."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        headers: Mapping[str, str],
        *,
        on_disconnect: Callable[[], None],
    ) -> None:
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self.on_disconnect = on_disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watcher = asyncio.ensure_future(self._watch(receive))
        try:
            await self.stream_response(send)
        except OSError as exc:  # ASGI spec 2.4 servers: a send to a client that left
            self.on_disconnect()
            raise ClientDisconnect() from exc
        finally:
            watcher.cancel()

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.on_disconnect()


def _stream_headers(route: RouteRequest, started: float) -> dict[str, str]:
    """Headers for a stream whose first chunk is in hand: its attempt is recorded when it
    ends (a short stream may have ended already), so while it runs it is counted here,
    and its wait for that chunk is provider time."""
    meta = route.metadata()
    sent = route.marks.get("sent")
    waiting_ms = (time.perf_counter() - sent) * 1000 if sent is not None else 0.0
    waited_ms = _attempts_ms(meta) + waiting_ms + route.paused_ms
    streaming = 0 if route.streaming is None else 1
    return {
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
        **route_headers(meta, started, waited_ms, len(meta["attempts"]) + streaming),
        **rate_limit_headers(route),
    }


def _stream_failure(server: OpenMuxServer, exc: BaseException, started: float) -> APIError:
    if isinstance(exc, OpenMuxError):
        return server.failure(exc, started)
    _log.error("stream failed: %r", exc)
    return APIError(502, "the answer's stream broke off", type="server_error")
