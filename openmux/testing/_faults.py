"""Faults a fake provider can be told to exhibit.

A `Fault` is plain data; the server (`_server.py`) decides how to act it out
for each wire protocol. Faults apply to work endpoints (chat completions,
embeddings, Ollama `/api/chat` and `/api/embed`); model listings stay healthy
unless the fault was created with `on_listing=True`.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal[
    "status",
    "error_body",
    "garbage",
    "hang",
    "slow_first_token",
    "mid_stream_error",
    "flaky",
    "loading",
    "disconnect",
    "endless",
    "closes_idle",
    "stalls",
    "bad_framing",
]


@dataclass
class Fault:
    """How a fake provider misbehaves. Build one with the class methods.

    Attributes are public so tests can inspect them, but only the factory
    methods below are the supported way to create faults.
    """

    kind: FaultKind
    status_code: int = 500
    message: str | None = None
    retry_after: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    code: int | str | None = None
    metadata: Mapping[str, Any] | None = None
    body: str | bytes | None = None
    content_type: str = "text/html; charset=utf-8"
    seconds: float | None = None
    interval: float = 0.0
    keepalive: bool = False
    empty_events: bool = False
    short_body: bool = False
    after_chunks: int = 2
    rate: float = 0.0
    seed: int | None = None
    fault: Fault | None = None
    on_listing: bool = False
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ factories
    @classmethod
    def status(
        cls,
        status_code: int,
        *,
        message: str | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        on_listing: bool = False,
    ) -> Fault:
        """Answer with HTTP `status_code` and the protocol's error JSON body.

        `retry_after` (seconds) adds a `Retry-After` header; `headers` adds any
        others (e.g. `X-RateLimit-Reset`). `json_body` replaces the error body with
        a provider's own (Gemini's 429 with its `QuotaFailure` details, say).
        """
        return cls(
            "status",
            status_code=status_code,
            message=message,
            retry_after=retry_after,
            headers=dict(headers or {}),
            body=None if json_body is None else json.dumps(json_body),
            content_type="application/json",
            on_listing=on_listing,
        )

    @classmethod
    def error_body(
        cls,
        code: int | str = 500,
        message: str = "Internal Server Error",
        *,
        metadata: Mapping[str, Any] | None = None,
        on_listing: bool = False,
    ) -> Fault:
        """HTTP 200 whose body is `{"error": {"code", "message"}}` and no choices.

        OpenRouter reports some upstream failures this way:
        https://openrouter.ai/docs/api-reference/errors
        """
        return cls(
            "error_body",
            status_code=200,
            code=code,
            message=message,
            metadata=metadata,
            on_listing=on_listing,
        )

    @classmethod
    def garbage(
        cls,
        body: str | bytes | None = None,
        *,
        status_code: int = 200,
        content_type: str = "text/html; charset=utf-8",
        headers: Mapping[str, str] | None = None,
        on_listing: bool = False,
    ) -> Fault:
        """Answer with a body that is not JSON (by default an HTML error page), or with
        any `body` given, bytes as they are (not UTF-8, say), with `headers` added (a
        `Content-Encoding` the body does not have, say)."""
        return cls(
            "garbage",
            status_code=status_code,
            body=body,
            content_type=content_type,
            headers=dict(headers or {}),
            on_listing=on_listing,
        )

    @classmethod
    def bad_framing(
        cls,
        body: str | bytes = b"",
        *,
        short_body: bool = False,
        content_type: str = "application/json",
    ) -> Fault:
        """Answer 200 with HTTP framing that is broken after the status line: `body`
        sent as one chunk and then a chunk size that is not hexadecimal, or, with
        `short_body`, `body` under a Content-Length larger than it, the connection then
        closed (a provider or proxy gone wrong, not a network failure before the answer)."""
        return cls(
            "bad_framing",
            status_code=200,
            body=body,
            content_type=content_type,
            short_body=short_body,
        )

    @classmethod
    def hang(cls, seconds: float | None = None, *, on_listing: bool = False) -> Fault:
        """Accept the request and never answer.

        The connection is closed without a response when the server stops, or
        after `seconds` if given.
        """
        return cls("hang", seconds=seconds, on_listing=on_listing)

    @classmethod
    def disconnect(cls, *, on_listing: bool = False) -> Fault:
        """Read the request, then close the connection without any response."""
        return cls("disconnect", on_listing=on_listing)

    @classmethod
    def endless(
        cls, interval: float = 0.0, *, seconds: float | None = None, on_listing: bool = False
    ) -> Fault:
        """Answer 200 at once with a body that never ends: one line (JSON, or for a
        streamed OpenAI request an SSE `data:` line) growing by 64 KiB every `interval`
        seconds, or as fast as the client reads it.

        It goes on until the client leaves or the server stops, or for `seconds` if
        given (then the connection closes mid-body): a provider gone wrong that sends
        gigabytes, or drips an answer for ever.
        """
        return cls("endless", interval=interval, seconds=seconds, on_listing=on_listing)

    @classmethod
    def closes_idle(cls) -> Fault:
        """Answer a connection's first request; read a later one on the same kept-alive
        connection and close it without an answer, as a server does that closes an idle
        connection just as the client sends on it (the request never reached it)."""
        return cls("closes_idle")

    @classmethod
    def stalls(
        cls,
        after_chunks: int = 1,
        *,
        keepalive: bool = False,
        empty_events: bool = False,
        seconds: float | None = None,
    ) -> Fault:
        """Stream `after_chunks` content chunks, then nothing more while the connection
        stays open: with `keepalive`, SSE `: keep-alive` comments about every 0.1 s, as
        a proxy holding an idle stream open sends (Ollama's streams stay silent); with
        `empty_events`, data events with an empty delta instead, as a server does whose
        model stopped producing text. A request that is not streamed gets its 200
        headers and then the same silence (or blank lines). It goes on until the client
        leaves or the server stops, or for `seconds` if given (then the connection
        closes mid-body)."""
        return cls(
            "stalls",
            after_chunks=after_chunks,
            keepalive=keepalive or empty_events,
            empty_events=empty_events,
            seconds=seconds,
        )

    @classmethod
    def slow_first_token(cls, seconds: float = 1.0, *, keepalive: bool = False) -> Fault:
        """Wait `seconds` before the first token, then answer normally.

        With `keepalive`, streams send `: OPENROUTER PROCESSING` SSE comments
        about every 0.1 s meanwhile, and non-streaming answers send leading
        whitespace, as OpenRouter does:
        https://openrouter.ai/docs/api-reference/streaming
        """
        return cls("slow_first_token", seconds=seconds, keepalive=keepalive)

    @classmethod
    def mid_stream_error(
        cls,
        after_chunks: int = 2,
        *,
        code: int | str = "server_error",
        message: str = "Provider disconnected unexpectedly",
    ) -> Fault:
        """Stream `after_chunks` content chunks, then an error chunk, then end.

        The error chunk has a top-level `error` and `finish_reason: "error"`
        (https://openrouter.ai/docs/api-reference/errors). Non-streaming
        requests get HTTP 200 with the partial content and an in-body `error`.
        """
        return cls("mid_stream_error", after_chunks=after_chunks, code=code, message=message)

    @classmethod
    def flaky(
        cls,
        rate: float = 0.5,
        *,
        seed: int | None = None,
        fault: Fault | None = None,
    ) -> Fault:
        """Apply `fault` (default: HTTP 500) to about `rate` of the requests.

        With a `seed` the sequence of failures is deterministic.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {rate}")
        inner = fault if fault is not None else cls.status(500)
        return cls("flaky", rate=rate, seed=seed, fault=inner, on_listing=inner.on_listing)

    @classmethod
    def loading(cls, message: str = "Loading model", *, on_listing: bool = False) -> Fault:
        """llama.cpp server answer while a model loads: HTTP 503 with
        `{"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}`.
        """
        return cls("loading", status_code=503, message=message, on_listing=on_listing)

    # ------------------------------------------------------------------ helpers
    def resolve(self) -> Fault | None:
        """The fault to act out for one request (`None`: answer normally).

        Only `flaky` is random: it draws once per call.
        """
        if self.kind != "flaky":
            return self
        with self._lock:
            hit = self._rng.random() < self.rate
        if not hit or self.fault is None:
            return None
        return self.fault.resolve()

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """Build a fault from a short command-line spec.

        Forms: `status:500`, `status:429:2` (Retry-After 2 s), `error_body:429`,
        `garbage`, `hang`, `disconnect`, `endless`, `endless:0.5` (64 KiB each 0.5 s),
        `closes_idle`, `stalls:1` (silent after 1 content chunk), `stalls_keepalive:1`,
        `stalls_empty:1` (empty data events after it),
        `slow:1.5`, `slow_keepalive:1.5`,
        `mid_stream_error:2`, `flaky:0.3` (HTTP 500), `flaky:0.3:502`, `loading`.
        """
        name, *args = spec.strip().split(":")
        try:
            if name == "status":
                retry = float(args[1]) if len(args) > 1 else None
                return cls.status(int(args[0]), retry_after=retry)
            if name == "error_body":
                return cls.error_body(int(args[0]) if args else 500)
            if name == "garbage":
                return cls.garbage()
            if name == "hang":
                return cls.hang(float(args[0]) if args else None)
            if name == "disconnect":
                return cls.disconnect()
            if name == "closes_idle":
                return cls.closes_idle()
            if name == "endless":
                return cls.endless(float(args[0]) if args else 0.0)
            if name in ("stalls", "stalls_keepalive", "stalls_empty"):
                return cls.stalls(
                    int(args[0]) if args else 1,
                    keepalive=name == "stalls_keepalive",
                    empty_events=name == "stalls_empty",
                )
            if name in ("slow", "slow_first_token", "slow_keepalive"):
                return cls.slow_first_token(
                    float(args[0]) if args else 1.0, keepalive=name == "slow_keepalive"
                )
            if name == "mid_stream_error":
                return cls.mid_stream_error(int(args[0]) if args else 2)
            if name == "flaky":
                inner = cls.status(int(args[1])) if len(args) > 1 else None
                return cls.flaky(float(args[0]) if args else 0.5, fault=inner)
            if name == "loading":
                return cls.loading()
        except (IndexError, ValueError) as exc:
            raise ValueError(f"bad fault spec {spec!r}: {exc}") from exc
        raise ValueError(f"unknown fault {name!r} in spec {spec!r}")
