"""A loopback "wall": an OpenAI-compatible chat endpoint that acts out one fault per model.

Written for `faults.py` from the scenario descriptions of failoverbench's catalogue
(methodology v0.1); no code of that project is used. The model name picks the fault
(`fb-s08-stream-cut`, ...); `fb-ok` answers normally and `fb-ok-noprefill` refuses a
request whose last message is an assistant prefill. Every work request is logged per
model (arrival time), so the scorer can count attempts the way the benchmark does.

Streams use chunked transfer encoding, so a cut (no terminating chunk) is a protocol
error the client can see, while a stream that merely lacks `data: [DONE]` is complete.
Non-streamed requests get the same fault in the shape a JSON body can take (a body cut
short, a stall mid-body, a malformed body).
"""

from __future__ import annotations

import json
import select
import socket
import struct
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER_WORDS = 60
ANSWER = " ".join(f"word{n}" for n in range(1, ANSWER_WORDS + 1))
"""The canonical answer: sixty words, one streamed token each."""


class Wall:
    """Shared state of the wall: attempts per model and the time of the last reset."""

    def __init__(self, outage_s: float = 60.0) -> None:
        self.outage_s = outage_s
        self.lock = threading.Lock()
        self.attempts: dict[str, list[float]] = defaultdict(list)
        self.prefill_rejections = 0
        self.reset_at = time.monotonic()
        self.stopping = threading.Event()

    def reset(self) -> None:
        with self.lock:
            self.attempts.clear()
            self.prefill_rejections = 0
            self.reset_at = time.monotonic()

    def log(self, model: str) -> int:
        """Record one attempt on `model`; return its number (1 for the first)."""
        with self.lock:
            self.attempts[model].append(time.monotonic())
            return len(self.attempts[model])


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-wall",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _usage() -> dict[str, int]:
    return {"prompt_tokens": 20, "completion_tokens": ANSWER_WORDS, "total_tokens": 80}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing ---------------------------------------------------------------------------

    def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, code: str, headers: dict[str, str] | None = None):
        body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
        self._json(status, body, headers)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _write(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event(self, payload: dict[str, Any] | str) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self._write(f"data: {text}\n\n".encode())

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _wait(self, seconds: float) -> None:
        """Stay silent for `seconds`, or until the client hangs up or the wall stops."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.server.wall.stopping.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.1)
            if readable and not self.connection.recv(1, socket.MSG_PEEK):
                return

    def _cut(self) -> None:
        """Close at once, with a TCP reset: no more bytes, no terminating chunk."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    # -- the endpoint -----------------------------------------------------------------------

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": []})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        model = str(body.get("model", ""))
        stream = bool(body.get("stream"))
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        wall = self.server.wall
        attempt = wall.log(model)
        messages = body.get("messages") or [{}]
        if model == "fb-ok-noprefill" and messages[-1].get("role") == "assistant":
            with wall.lock:
                wall.prefill_rejections += 1
            self._error(400, "This model does not support assistant message prefill.", "prefill")
            return
        scenario = model.split("-")[1] if model.startswith("fb-s") else "ok"
        if self._refused(scenario, attempt, wall):
            return
        if stream:
            self._stream(scenario, model, usage)
        else:
            self._whole(scenario, model)

    def _refused(self, scenario: str, attempt: int, wall: Wall) -> bool:
        """Faults that answer before any content; True when one was acted out."""
        if scenario == "s01" and attempt == 1:
            self._error(429, "Rate limit reached", "rate_limit_exceeded", {"Retry-After": "2"})
        elif scenario == "s02":
            self._error(429, "Rate limit reached", "rate_limit_exceeded")
        elif scenario == "s03" and attempt == 1:
            self._error(500, "The server had an error processing your request.", "server_error")
        elif scenario in ("s04", "s16") or (
            scenario == "s15" and time.monotonic() - wall.reset_at < wall.outage_s
        ):
            self._error(503, "The engine is currently overloaded.", "overloaded")
        elif scenario == "s05" and attempt == 1:
            self._cut()
        elif scenario == "s06":
            self._wait(120)
            self.close_connection = True
        elif scenario == "s12":
            self._error(
                400,
                "This model's maximum context length is 8192 tokens. However, your messages"
                " resulted in 9100 tokens. Please reduce the length of the messages.",
                "context_length_exceeded",
            )
        elif scenario == "s13":
            self._error(
                400,
                "Your request was rejected as a result of our safety system.",
                "content_policy_violation",
            )
        else:
            return False
        return True

    def _stream(self, scenario: str, model: str, usage: bool) -> None:
        self._start_stream()
        self._event(_chunk(model, {"role": "assistant", "content": ""}))
        if scenario == "s07":
            self._wait(20)
        words = ANSWER.split(" ")
        for number, word in enumerate(words, start=1):
            if scenario in ("s08", "s14") and number > 40:
                self._cut()
                return
            if scenario == "s09" and number > 20:
                self._wait(30)
                self._cut()
                return
            if scenario == "s10" and number == 10:
                self._event('{"id": "chatcmpl-wall", "choices": [{"delta": {"content": ')
            piece = word if number == 1 else " " + word
            self._event(_chunk(model, {"content": piece}))
        self._event(_chunk(model, {}, "stop"))
        if usage:
            self._event({**_chunk(model, {}), "choices": [], "usage": _usage()})
        if scenario != "s11":
            self._event("[DONE]")
        self._end_stream()

    def _whole(self, scenario: str, model: str) -> None:
        body = {
            "id": "chatcmpl-wall",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ANSWER},
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(),
        }
        data = json.dumps(body).encode()
        if scenario == "s07":
            self._wait(20)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if scenario in ("s08", "s14", "s09"):
            self.wfile.write(data[: len(data) * 2 // 3])
            self.wfile.flush()
            if scenario == "s09":
                self._wait(30)
            self._cut()
            return
        if scenario == "s10":
            data = data.replace(b'"content":', b'"content"', 1)
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    wall: Wall

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up on a fault: expected here, not worth a traceback


@contextmanager
def running_wall(outage_s: float = 60.0) -> Iterator[tuple[str, Wall]]:
    """Serve the wall on a free loopback port; yield its `/v1` base URL and its state."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.wall = Wall(outage_s)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", server.wall
    finally:
        server.wall.stopping.set()
        server.shutdown()
        server.server_close()
