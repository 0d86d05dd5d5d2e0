"""`FakeProviderServer`: a loopback HTTP server hosting fake LLM providers.

The HTTP plumbing is in `_connection`, request routing in `_handler`, the endpoints in
`_openai_endpoints` and `_ollama_endpoints`, and the wire formats in `_openai` and
`_ollama`.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from openmux.testing._connection import LoopbackHTTPServer
from openmux.testing._faults import Fault
from openmux.testing._handler import Handler
from openmux.testing._provider import FakeProvider, ResponseHeaders
from openmux.testing._scripted import ReplySource

HOST = "127.0.0.1"


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
        self._httpd: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._dead: list[socket.socket] = []
        self._lock = threading.Lock()

    # -------------------------------------------------------------- lifecycle
    def start(self) -> FakeProviderServer:
        """Bind and serve in a background daemon thread. Returns self."""
        with self._lock:
            if self._httpd is not None:
                return self
            httpd = LoopbackHTTPServer((self.host, self.port), self.providers, Handler)
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
        response_headers: ResponseHeaders | None = None,
    ) -> FakeProvider:
        """Add (or replace) the provider served under `/{name}/`.

        `reply` is the text of plain answers, or a callable given the request
        JSON that returns it (default: "Hello from NAME! You said: ...").
        `model_info` overrides OpenRouter catalog fields per model id and
        `key_info` fields of `GET /api/v1/key`. With `strict_models`, unknown
        model ids get the protocol's "model not found" error. `response_headers` go on
        every response (a callable given the provider may count them down).
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
            response_headers=response_headers,
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
