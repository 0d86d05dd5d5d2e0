"""A first-token deadline that keep-alive comments cannot extend.

httpx's read timeout restarts on every byte, so a provider that sends
`: OPENROUTER PROCESSING` comments (or, outside streams, blank lines) while it
queues the request would never time out. These transports wrap the response
body and fail it with a ReadTimeout when no real data has arrived within the
request's read timeout, counted from when the request was sent.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx


class _Watch:
    def __init__(self, started: float, limit: float | None) -> None:
        self.started = started
        self.limit = limit
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
        if partial and not partial.startswith(b":") and not b":".startswith(partial[:1]):
            self.seen_data = True
            return
        assert self.limit is not None
        if time.monotonic() - self.started > self.limit:
            raise httpx.ReadTimeout(f"no data within {self.limit:g} s (keep-alive comments only)")


def _read_limit(request: httpx.Request) -> float | None:
    timeout: Any = request.extensions.get("timeout") or {}
    limit = timeout.get("read")
    return float(limit) if limit else None


class _SyncStream(httpx.SyncByteStream):
    def __init__(self, stream: httpx.SyncByteStream, watch: _Watch) -> None:
        self._stream = stream
        self._watch = watch

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            self._watch.check(chunk)
            yield chunk

    def close(self) -> None:
        self._stream.close()


class _AsyncStream(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream, watch: _Watch) -> None:
        self._stream = stream
        self._watch = watch

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            self._watch.check(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


class FirstTokenTransport(httpx.HTTPTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        response = super().handle_request(request)
        stream = response.stream
        assert isinstance(stream, httpx.SyncByteStream)
        response.stream = _SyncStream(stream, _Watch(started, _read_limit(request)))
        return response


class AsyncFirstTokenTransport(httpx.AsyncHTTPTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        response = await super().handle_async_request(request)
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        response.stream = _AsyncStream(stream, _Watch(started, _read_limit(request)))
        return response
