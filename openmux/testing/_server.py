"""`FakeProviderServer`: a loopback HTTP server hosting fake LLM providers.

Standard library only: `http.server.ThreadingHTTPServer` speaking HTTP/1.1
with keep-alive, `Content-Length` bodies and chunked transfer encoding for
streams, one daemon thread per connection.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import selectors
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

from openmux.testing import _ollama, _openai
from openmux.testing._faults import Fault
from openmux.testing._provider import FakeProvider, RecordedRequest
from openmux.testing._scripted import ChatRequest, Reply, ReplySource, make_reply

HOST = "127.0.0.1"
_KEEPALIVE_INTERVAL = 0.1


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024  # listen backlog: bursts of hundreds of connections
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: FakeProviderServer) -> None:
        self.owner = owner
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

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


class _ClientGone(Exception):
    """The client closed the connection (or the server is stopping)."""


_Route = tuple[str, str, str, bool]  # (protocol, endpoint, handler name, is work endpoint)

_ROUTES: dict[tuple[str, str], _Route] = {
    ("POST", "/v1/chat/completions"): ("openai", "chat", "_openai_chat", True),
    ("GET", "/v1/models"): ("openai", "models", "_openai_models", False),
    ("POST", "/v1/embeddings"): ("openai", "embeddings", "_openai_embeddings", True),
    ("POST", "/api/v1/chat/completions"): ("openrouter", "chat", "_openai_chat", True),
    ("GET", "/api/v1/models"): ("openrouter", "models", "_openrouter_models", False),
    ("POST", "/api/v1/embeddings"): ("openrouter", "embeddings", "_openai_embeddings", True),
    ("GET", "/api/v1/key"): ("openrouter", "key", "_openrouter_key", False),
    ("GET", "/api/v1/auth/key"): ("openrouter", "key", "_openrouter_key", False),
    ("GET", "/"): ("ollama", "root", "_ollama_root", False),
    ("HEAD", "/"): ("ollama", "root", "_ollama_root", False),
    ("POST", "/api/chat"): ("ollama", "chat", "_ollama_chat", True),
    ("POST", "/api/generate"): ("ollama", "generate", "_ollama_chat", True),
    ("GET", "/api/tags"): ("ollama", "tags", "_ollama_tags", False),
    ("POST", "/api/embed"): ("ollama", "embeddings", "_ollama_embed", True),
    ("POST", "/api/embeddings"): ("ollama", "embeddings", "_ollama_legacy_embed", True),
    ("POST", "/api/show"): ("ollama", "show", "_ollama_show", False),
    ("GET", "/api/version"): ("ollama", "version", "_ollama_version", False),
    ("GET", "/api/ps"): ("ollama", "ps", "_ollama_ps", False),
    # llama.cpp server health check (503 "Loading model" under Fault.loading())
    ("GET", "/health"): ("openai", "health", "_health", False),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate small writes
    server_version = "openmux-fake/1.0"
    sys_version = ""
    server: _HTTPServer

    # Set per request by _dispatch.
    provider: FakeProvider
    protocol: str
    request_id: str
    _started: bool  # response headers sent

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            with contextlib.suppress(OSError):
                super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

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

    def _dispatch(self) -> None:
        self._started = False
        try:
            self._dispatch_inner()
        except _ClientGone:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
        except Exception as exc:  # a bug in the fake itself: say so loudly
            traceback.print_exc()
            self.close_connection = True
            if not self._started:
                body = {
                    "error": {"message": f"fake server error: {exc!r}", "type": "fake_server_error"}
                }
                with contextlib.suppress(OSError):
                    self._json(500, body)

    def _dispatch_inner(self) -> None:
        self.request_id = "req_" + secrets.token_hex(12)
        self.protocol = ""
        body = self._read_body()
        parts = urlsplit(self.path)
        name, _, rest = unquote(parts.path).lstrip("/").partition("/")
        rest = "/" + rest
        if len(rest) > 1:
            rest = rest.rstrip("/")
        provider = self.server.owner.providers.get(name)
        if provider is None:
            self._json(404, {"error": {"message": f"no fake provider named {name!r}", "code": 404}})
            return
        self.provider = provider
        route = _ROUTES.get((self.command, rest))
        if route is None and self.command == "GET" and rest.startswith("/v1/models/"):
            route = ("openai", "model", "_openai_model", False)
        payload: Any = None
        if body:
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
        record = RecordedRequest(
            method=self.command,
            path=rest,
            headers={k.lower(): v for k, v in self.headers.items()},
            json=payload,
            body=body,
            query=parts.query,
            endpoint=route[1] if route else "",
            protocol=route[0] if route else "",
            client=(str(self.client_address[0]), int(self.client_address[1])),
        )
        provider._record(record, work=bool(route and route[3]))
        if route is None:
            known = {path for _, path in _ROUTES}
            status = 405 if rest in known else 404
            self._json(
                status, {"error": {"message": f"{self.command} {rest}: not found", "code": status}}
            )
            return
        self.protocol, _endpoint, handler_name, is_work = route
        if body and payload is None and self.command == "POST":
            self._error(400, "We could not parse the JSON body of your request.")
            return
        fault = provider.fault
        if fault is not None and (
            is_work or fault.on_listing or (fault.kind == "loading" and _endpoint == "health")
        ):
            active = fault.resolve()
        else:
            active = None
        if active is not None and self._act_out(active):
            return
        if active is None and is_work and provider.latency > 0:
            self._sleep(provider.latency)
        handler: Callable[[Any, Fault | None], None] = getattr(self, handler_name)
        handler(payload if isinstance(payload, dict) else {}, active)

    def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up (and give up on the client) when the server stops."""
        if self.server.stopping.wait(seconds):
            raise _ClientGone

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
        for key, value in (extra or {}).items():
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
            raise _ClientGone
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

    def _error(
        self,
        status: int,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """An HTTP error with the current protocol's error body."""
        if self.protocol == "ollama":
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
            body = fault.body if fault.body is not None else _GARBAGE_HTML
            self._send(fault.status_code, body.encode(), fault.content_type)
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
        if fault.kind == "loading":
            message = fault.message or "Loading model"
            if self.protocol == "ollama":
                self._json(503, _ollama.error_body(message))
            else:
                self._json(503, _openai.loading_body(message))
            return True
        return False  # slow_first_token, mid_stream_error: endpoint-specific

    # ------------------------------------------------- OpenAI / OpenRouter
    def _flavor(self) -> _openai.Flavor:
        return "openrouter" if self.protocol == "openrouter" else "openai"

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

    def _openai_chat(self, body: dict[str, Any], fault: Fault | None) -> None:
        p = self.provider
        flavor = self._flavor()
        request = _openai.parse_chat(body, p.models[0] if p.models else "model")
        if self._unknown_model(request.model):
            return
        reply = self._reply(request)
        model = request.model
        slow = fault if fault is not None and fault.kind == "slow_first_token" else None
        broken = fault if fault is not None and fault.kind == "mid_stream_error" else None

        if not body.get("stream"):
            payload: dict[str, Any]
            if broken is not None:
                partial = "".join(reply.text_pieces()[: broken.after_chunks])
                payload = _openai.completion(
                    reply,
                    model,
                    flavor,
                    p.name,
                    text=partial,
                    finish_reason="error",
                    error={"code": broken.code, "message": broken.message or "error"},
                )
            else:
                payload = _openai.completion(reply, model, flavor, p.name)
            if slow is not None and slow.keepalive:
                # OpenRouter keeps idle non-streaming connections alive with whitespace.
                self._start_chunked("application/json")
                self._wait_first_token(slow.seconds or 0.0, b"\n")
                self._chunk(json.dumps(payload, ensure_ascii=False).encode())
                self._end_chunked()
                return
            if slow is not None:
                self._sleep(slow.seconds or 0.0)
            self._json(200, payload)
            return

        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        maker = _openai.ChunkMaker(model, flavor, p.name, include_usage)
        self._start_chunked("text/event-stream; charset=utf-8")
        if slow is not None:
            self._wait_first_token(
                slow.seconds or 0.0, _openai.SSE_PROCESSING if slow.keepalive else None
            )
        chunks = maker.content_chunks(reply)
        if broken is not None:
            head = chunks[: 1 + broken.after_chunks]
            tail = [maker.error_chunk(broken.code, broken.message or "error")]
            self._stream(_openai.sse(c) for c in [*head, *tail])
            self._end_chunked()
            return
        chunks += maker.finish_chunks(reply)
        self._stream([*(_openai.sse(c) for c in chunks), _openai.SSE_DONE])
        self._end_chunked()

    def _openai_models(self, body: dict[str, Any], fault: Fault | None) -> None:
        self._json(200, _openai.models_list(self.provider))

    def _openai_model(self, body: dict[str, Any], fault: Fault | None) -> None:
        model_id = urlsplit(self.path).path.split("/v1/models/", 1)[1]
        for entry in _openai.models_list(self.provider)["data"]:
            if entry["id"] == unquote(model_id):
                self._json(200, entry)
                return
        self._error(404, f"The model `{unquote(model_id)}` does not exist.")

    def _openai_embeddings(self, body: dict[str, Any], fault: Fault | None) -> None:
        if fault is not None and fault.kind == "slow_first_token":
            self._sleep(fault.seconds or 0.0)
        if fault is not None and fault.kind == "mid_stream_error":
            self._json(200, {"error": {"code": fault.code, "message": fault.message}})
            return
        model = str(body.get("model") or "")
        if model and self._unknown_model(model, embedding=True):
            return
        self._json(200, _openai.embeddings(body, self.provider))

    def _openrouter_models(self, body: dict[str, Any], fault: Fault | None) -> None:
        self._json(200, _openai.openrouter_catalog(self.provider))

    def _openrouter_key(self, body: dict[str, Any], fault: Fault | None) -> None:
        self._json(200, _openai.openrouter_key(self.provider))

    def _health(self, body: dict[str, Any], fault: Fault | None) -> None:
        self._json(200, {"status": "ok"})

    # --------------------------------------------------------------- Ollama
    def _ollama_root(self, body: dict[str, Any], fault: Fault | None) -> None:
        self._send(200, b"Ollama is running", "text/plain; charset=utf-8")

    def _ollama_chat(self, body: dict[str, Any], fault: Fault | None) -> None:
        """`/api/chat` and `/api/generate`."""
        p = self.provider
        generate = urlsplit(self.path).path.endswith("/api/generate")
        parse = _ollama.parse_generate if generate else _ollama.parse_chat
        request = parse(body, p.models[0] if p.models else "model")
        if self._unknown_model(request.model):
            return
        reply = self._reply(request)
        slow = fault if fault is not None and fault.kind == "slow_first_token" else None
        broken = fault if fault is not None and fault.kind == "mid_stream_error" else None
        if body.get("stream") is False:
            if slow is not None:
                self._sleep(slow.seconds or 0.0)
            if broken is not None:
                self._json(500, _ollama.error_body(broken.message or "error"))
                return
            respond = _ollama.generate_response if generate else _ollama.chat_response
            self._json(200, respond(reply, request.model))
            return
        self._start_chunked("application/x-ndjson")
        if slow is not None:
            self._sleep(slow.seconds or 0.0)
        stream = _ollama.generate_stream if generate else _ollama.chat_stream
        lines = stream(reply, request.model)
        if broken is not None:
            lines = lines[: min(broken.after_chunks, len(lines) - 1)]
            lines.append(_ollama.error_body(broken.message or "error"))
        self._stream(_ollama.ndjson(line) for line in lines)
        self._end_chunked()

    def _ollama_tags(self, body: dict[str, Any], fault: Fault | None) -> None:
        self._json(200, _ollama.tags(self.provider))

    def _ollama_ps(self, body: dict[str, Any], fault: Fault | None) -> None:
        self._json(200, _ollama.ps(self.provider))

    def _ollama_version(self, body: dict[str, Any], fault: Fault | None) -> None:
        self._json(200, {"version": _ollama.VERSION})

    def _ollama_show(self, body: dict[str, Any], fault: Fault | None) -> None:
        model = str(body.get("model") or body.get("name") or "")
        self._json(200, _ollama.show(self.provider, model))

    def _ollama_embed(self, body: dict[str, Any], fault: Fault | None) -> None:
        if fault is not None and fault.kind == "slow_first_token":
            self._sleep(fault.seconds or 0.0)
        if fault is not None and fault.kind == "mid_stream_error":
            self._json(500, _ollama.error_body(fault.message or "error"))
            return
        model = str(body.get("model") or "")
        if model and self._unknown_model(model, embedding=True):
            return
        self._json(200, _ollama.embed_response(body, self.provider))

    def _ollama_legacy_embed(self, body: dict[str, Any], fault: Fault | None) -> None:
        if fault is not None and fault.kind == "slow_first_token":
            self._sleep(fault.seconds or 0.0)
        self._json(200, _ollama.legacy_embedding(body, self.provider))


_GARBAGE_HTML = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n"
)


class FakeProviderServer:
    """A real HTTP server on 127.0.0.1 hosting any number of fake providers.

    Use it as a context manager (or call `start()` / `stop()`). Each provider
    added with `add_provider()` is served under `/{name}/` in three dialects:
    OpenAI (`p.base_url`), OpenRouter (`p.openrouter_base_url`) and Ollama
    (`p.ollama_base_url`).

    After `stop()`, `start()` serves again on the same port, so a test can
    take a whole server down and bring it back.
    """

    def __init__(self, host: str = HOST, port: int = 0) -> None:
        self.host = host
        self.port = port
        self.providers: dict[str, FakeProvider] = {}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._dead: list[socket.socket] = []
        self._lock = threading.Lock()

    # -------------------------------------------------------------- lifecycle
    def start(self) -> FakeProviderServer:
        """Bind and serve in a background daemon thread. Returns self."""
        with self._lock:
            if self._httpd is not None:
                return self
            httpd = _HTTPServer((self.host, self.port), self)
            self.port = httpd.server_address[1]
            thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"FakeProviderServer:{self.port}",
                daemon=True,
            )
            self._httpd, self._thread = httpd, thread
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; open connections (hanging ones too) are closed."""
        with self._lock:
            httpd, thread = self._httpd, self._thread
            self._httpd = self._thread = None
            dead, self._dead = self._dead, []
        for sock in dead:
            sock.close()
        if httpd is None:
            return
        httpd.stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.url if self.running else "stopped"
        return f"FakeProviderServer({state}, providers={list(self.providers)})"

    # ------------------------------------------------------------------ URLs
    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT` (the server must have been started once)."""
        if not self.port:
            raise RuntimeError("FakeProviderServer is not started; call start() first")
        return f"http://{self.host}:{self.port}"

    def dead_url(self) -> str:
        """An `http://127.0.0.1:PORT/v1` URL where connections are refused.

        The port stays reserved (bound, never listening) until `stop()`, so
        nothing else can start listening there meanwhile.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((HOST, 0))
        with self._lock:
            self._dead.append(sock)
        return f"http://{HOST}:{sock.getsockname()[1]}/v1"

    # ------------------------------------------------------------- providers
    def add_provider(
        self,
        name: str,
        *,
        models: Iterable[str] = ("model-1",),
        embedding_models: Iterable[str] = (),
        reply: ReplySource = None,
        fault: Fault | None = None,
        latency: float = 0.0,
        model_info: Mapping[str, Mapping[str, Any]] | None = None,
        key_info: Mapping[str, Any] | None = None,
        embedding_dims: int = 16,
        strict_models: bool = False,
    ) -> FakeProvider:
        """Add (or replace) the provider served under `/{name}/`.

        `reply` is the text of plain answers, or a callable given the request
        JSON that returns it (default: "Hello from NAME! You said: ...").
        `model_info` overrides OpenRouter catalog fields per model id and
        `key_info` fields of `GET /api/v1/key`. With `strict_models`, unknown
        model ids get the protocol's "model not found" error.
        """
        if not name or "/" in name or name != name.strip():
            raise ValueError(f"invalid provider name {name!r}")
        provider = FakeProvider(
            self,
            name,
            models=list(models),
            embedding_models=list(embedding_models),
            reply=reply,
            model_info=model_info,
            key_info=key_info,
            embedding_dims=embedding_dims,
            latency=latency,
            fault=fault,
            strict_models=strict_models,
        )
        self.providers[name] = provider
        return provider

    def remove_provider(self, name: str) -> None:
        self.providers.pop(name, None)

    def reset(self) -> None:
        """Reset the counters of every provider and clear their faults."""
        for provider in self.providers.values():
            provider.reset()
            provider.fault = None
