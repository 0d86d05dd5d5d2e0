"""One HTTP/1.1 connection to the fake server: the loopback server itself, and the
request plumbing every endpoint shares (bodies, JSON and chunked answers, waits that end
when the server stops, protocol-shaped errors, and acting out a provider's fault).

Standard library only: `http.server.ThreadingHTTPServer` speaking HTTP/1.1 with
keep-alive, `Content-Length` bodies and chunked transfer encoding for streams, one daemon
thread per connection.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from openmux.testing import _ollama, _openai
from openmux.testing._faults import Fault
from openmux.testing._provider import FakeProvider
from openmux.testing._scripted import ChatRequest, Reply, ReplySource, make_reply

_KEEPALIVE_INTERVAL = 0.1


class LoopbackHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024  # listen backlog: bursts of hundreds of connections
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        providers: Mapping[str, FakeProvider],
        handler: type[BaseHTTPRequestHandler],
    ) -> None:
        self.providers = providers  # the owner's live table: providers come and go
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections.discard(conn)

    def close_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients going away mid-answer is routine here; stay quiet.
        return


class ClientGone(Exception):
    """The client closed the connection (or the server is stopping)."""


class Connection(BaseHTTPRequestHandler):
    """Plumbing shared by every endpoint; `Handler` sets the per-request attributes."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate small writes
    server_version = "openmux-fake/1.0"
    sys_version = ""
    server: LoopbackHTTPServer

    # Set per request by Handler._dispatch.
    provider: FakeProvider
    protocol: str
    request_id: str
    _raw_body: bytes  # the request body as sent
    _started: bool  # response headers sent

    def setup(self) -> None:
        super().setup()
        self.answered = 0  # requests answered on this connection
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            with contextlib.suppress(OSError):
                super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        return

    # ------------------------------------------------------------ plumbing
    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up (and give up on the client) when the server stops."""
        if self.server.stopping.wait(seconds):
            raise ClientGone

    def _headers(self, status: int, content_type: str, extra: Mapping[str, str] | None) -> None:
        self._started = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("x-request-id", self.request_id)
        if self.close_connection:
            self.send_header("Connection", "close")
        if self.protocol == "openai":
            self.send_header("openai-processing-ms", "1")
            self.send_header("openai-version", "2020-10-01")
        provider = getattr(self, "provider", None)
        for key, value in {**(provider.headers_now() if provider else {}), **(extra or {})}.items():
            self.send_header(key, value)

    def _send(
        self,
        status: int,
        data: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._headers(status, content_type, headers)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    def _json(self, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send(
            status, json.dumps(obj, ensure_ascii=False).encode(), "application/json", headers
        )

    def _start_chunked(self, content_type: str) -> None:
        self._headers(200, content_type, {"Cache-Control": "no-cache"})
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        if self.server.stopping.is_set():
            raise ClientGone
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def _end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _stream(self, items: Iterable[bytes]) -> None:
        delay = self.provider.stream_delay
        for i, item in enumerate(items):
            if delay > 0 and i:
                self._sleep(delay)
            self._chunk(item)

    def _client_closed(self) -> bool:
        """Whether the client has closed its end (without consuming any data)."""
        # selectors, not select.select: a busy process has descriptors above FD_SETSIZE,
        # where select.select fails and every hang would end at once.
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.connection, selectors.EVENT_READ)
                readable = selector.select(timeout=0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _wait_first_token(self, seconds: float, keepalive: bytes | None) -> None:
        """Wait `seconds`; send `keepalive` bytes about every 0.1 s meanwhile."""
        deadline = time.monotonic() + seconds
        if keepalive:
            self._chunk(keepalive)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._sleep(min(remaining, _KEEPALIVE_INTERVAL) if keepalive else remaining)
            if keepalive and deadline - time.monotonic() > 0:
                self._chunk(keepalive)

    def _stall(self, fault: Fault, keepalive: bytes) -> None:
        """Send nothing more (or only `keepalive` bytes, about every 0.1 s, if the fault
        says so) until the client leaves, the server stops or the fault's `seconds`
        pass; then close the connection mid-body (see `Fault.stalls`)."""
        self.close_connection = True
        deadline = None if fault.seconds is None else time.monotonic() + fault.seconds
        while deadline is None or time.monotonic() < deadline:
            self._sleep(_KEEPALIVE_INTERVAL)
            if self._client_closed():
                return
            if fault.keepalive:
                self._chunk(keepalive)

    def _error(
        self,
        status: int,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """An HTTP error with the current protocol's error body."""
        if self.protocol == "cloudflare":
            body = {
                "result": None,
                "success": False,
                "errors": [{"code": 5006, "message": message or "error"}],
            }
            self._json(status, body, headers)
        elif self.protocol == "ollama":
            default = _openai.error_body(status, "openai")["error"]["message"]
            self._json(status, _ollama.error_body(message or default), headers)
        else:
            flavor: _openai.Flavor = "openrouter" if self.protocol == "openrouter" else "openai"
            self._json(status, _openai.error_body(status, flavor, message), headers)

    # --------------------------------------------------------------- faults
    def _act_out(self, fault: Fault) -> bool:
        """Answer according to `fault`; False when the endpoint must answer itself."""
        if fault.kind == "status":
            headers = dict(fault.headers)
            if fault.retry_after is not None:
                ra = fault.retry_after
                headers.setdefault(
                    "Retry-After", str(int(ra)) if float(ra).is_integer() else str(ra)
                )
            if fault.body is not None:
                self._send(fault.status_code, _bytes(fault.body), fault.content_type, headers)
            else:
                self._error(fault.status_code, fault.message, headers)
            return True
        if fault.kind == "error_body":
            if self.protocol == "ollama":
                self._json(200, _ollama.error_body(fault.message or "error"))
            else:
                error: dict[str, Any] = {"code": fault.code, "message": fault.message}
                if fault.metadata is not None:
                    error["metadata"] = dict(fault.metadata)
                self._json(200, {"error": error})
            return True
        if fault.kind == "garbage":
            body = fault.body if fault.body is not None else GARBAGE_HTML
            self._send(fault.status_code, _bytes(body), fault.content_type, fault.headers)
            return True
        if fault.kind == "bad_framing":
            self._bad_framing(fault)
            return True
        if fault.kind == "hang":
            # Until the server stops, the client gives up, or `seconds` pass.
            deadline = None if fault.seconds is None else time.monotonic() + fault.seconds
            while not self.server.stopping.wait(0.05):
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if self._client_closed():
                    break
            self.close_connection = True
            return True
        if fault.kind == "disconnect":
            self.close_connection = True
            return True
        if fault.kind == "closes_idle":
            if self.answered:  # closed as it went idle: this request is never read
                self.close_connection = True
                return True
            return False
        if fault.kind == "endless":
            self.close_connection = True
            self._endless(fault.interval, fault.seconds)
            return True
        if fault.kind == "loading":
            message = fault.message or "Loading model"
            if self.protocol == "ollama":
                self._json(503, _ollama.error_body(message))
            else:
                self._json(503, _openai.loading_body(message))
            return True
        return False  # slow_first_token, mid_stream_error, stalls: endpoint-specific

    def _bad_framing(self, fault: Fault) -> None:
        """A 200 whose framing breaks after its head (see `Fault.bad_framing`)."""
        self.close_connection = True
        body = _bytes(fault.body or b"")
        self._headers(200, fault.content_type, None)
        if fault.short_body:
            self.send_header("Content-Length", str(len(body) + 100))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._chunk(body)
            self.wfile.write(b"zz-not-a-size\r\n")
        self.wfile.flush()

    def _endless(self, interval: float, seconds: float | None) -> None:
        """A 200 whose one line never ends (see `Fault.endless`)."""
        streamed = self.protocol != "ollama" and _asks_to_stream(self._raw_body)
        self._start_chunked("text/event-stream" if streamed else "application/json")
        self._chunk(b'data: {"choices": "' if streamed else b'{"choices": "')
        deadline = None if seconds is None else time.monotonic() + seconds
        while deadline is None or time.monotonic() < deadline:
            if interval > 0:
                self._sleep(interval)
            self._chunk(_ENDLESS_PIECE)

    def _unknown_model(self, model: str, embedding: bool = False) -> bool:
        p = self.provider
        known = p.embedding_models if embedding else p.models
        if not p.strict_models or model in known:
            return False
        if self.protocol == "ollama":
            self._json(404, _ollama.error_body(f'model "{model}" not found, try pulling it first'))
        elif self.protocol == "openrouter":
            self._error(400, f"{model} is not a valid model ID")
        else:
            self._error(404, f"The model `{model}` does not exist or you do not have access to it.")
        return True

    def _reply(self, request: ChatRequest) -> Reply:
        reply: ReplySource = self.provider.reply
        return make_reply(self.provider.name, request, reply)


_ENDLESS_PIECE = b"x" * 65536


def _asks_to_stream(body: bytes) -> bool:
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("stream") is True


def _bytes(body: str | bytes) -> bytes:
    return body if isinstance(body, bytes) else body.encode()


GARBAGE_HTML = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n"
)
