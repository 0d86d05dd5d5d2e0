"""A first-token deadline that keep-alive comments cannot extend.

httpx's read timeout restarts on every byte, so a provider that sends
`: OPENROUTER PROCESSING` comments (or, outside streams, blank lines) while it
queues the request would never time out. These transports wrap the response
body and fail it with a ReadTimeout when no real data has arrived within the
request's read timeout, counted from when the request was sent.

The classes are built per httpx module: the OpenAI SDK 3 speaks `httpx2` (an
API-identical fork), Ollama's client speaks `httpx`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from functools import cache
from types import ModuleType
from typing import Any


class _Watch:
    def __init__(self, started: float, limit: float | None, timeout_error: type[Exception]) -> None:
        self.started = started
        self.limit = limit
        self.timeout_error = timeout_error
        self.seen_data = limit is None
        self._line = b""

    def check(self, chunk: bytes) -> None:
        if self.seen_data:
            return
        lines = (self._line + chunk).split(b"\n")
        self._line = lines.pop()
        for line in lines:
            text = line.strip()
            if text and not text.startswith(b":"):
                self.seen_data = True
                return
        partial = self._line.strip()
        if partial and not partial.startswith(b":"):
            self.seen_data = True
            return
        assert self.limit is not None
        if time.monotonic() - self.started > self.limit:
            raise self.timeout_error(f"no data within {self.limit:g} s (keep-alive comments only)")


def _read_limit(request: Any) -> float | None:
    timeout: Any = request.extensions.get("timeout") or {}
    limit = timeout.get("read")
    return float(limit) if limit else None


@cache
def transports(httpx: ModuleType) -> tuple[type[Any], type[Any]]:
    """(sync, async) transport classes with the first-token deadline, for this httpx."""

    class SyncStream(httpx.SyncByteStream):  # type: ignore[name-defined]
        def __init__(self, stream: Any, watch: _Watch) -> None:
            self._stream = stream
            self._watch = watch

        def __iter__(self) -> Iterator[bytes]:
            for chunk in self._stream:
                self._watch.check(chunk)
                yield chunk

        def close(self) -> None:
            self._stream.close()

    class AsyncStream(httpx.AsyncByteStream):  # type: ignore[name-defined]
        def __init__(self, stream: Any, watch: _Watch) -> None:
            self._stream = stream
            self._watch = watch

        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for chunk in self._stream:
                self._watch.check(chunk)
                yield chunk

        async def aclose(self) -> None:
            await self._stream.aclose()

    class FirstTokenTransport(httpx.HTTPTransport):  # type: ignore[name-defined]
        def handle_request(self, request: Any) -> Any:
            started = time.monotonic()
            response = super().handle_request(request)
            watch = _Watch(started, _read_limit(request), httpx.ReadTimeout)
            response.stream = SyncStream(response.stream, watch)
            return response

    class AsyncFirstTokenTransport(httpx.AsyncHTTPTransport):  # type: ignore[name-defined]
        async def handle_async_request(self, request: Any) -> Any:
            started = time.monotonic()
            response = await super().handle_async_request(request)
            watch = _Watch(started, _read_limit(request), httpx.ReadTimeout)
            response.stream = AsyncStream(response.stream, watch)
            return response

    return FirstTokenTransport, AsyncFirstTokenTransport
