"""An `openmux serve` app on a free loopback port, over loopback fake providers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from openmux import TaskClassification, TaskType
from openmux.testing import FakeProviderServer
from tests.helpers import provider_config

pytest.importorskip("uvicorn", reason="the server extra is not installed")

ALPHA_REPLY = "Hello from alpha, in a reply long enough to stream as several chunks."
BETA_REPLY = "Hello from beta, in a reply long enough to stream as several chunks."
SERVER_KEY = "test-server-key-0123456789abcdef"

# The fake providers behind every app these tests start: each module declares
# `PROVIDERS = FAKE_PROVIDERS` and gets them through the `server` fixture.
FAKE_PROVIDERS = {
    name: dict(models=["shared", f"{name}-only"], embedding_models=["embed-1"], reply=reply)
    for name, reply in (("alpha", ALPHA_REPLY), ("beta", BETA_REPLY))
}


# A chat request as an ASGI server hands it to the app, for tests that call the app
# directly and watch what it sends.
CHAT_SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.3"},
    "http_version": "1.1",
    "method": "POST",
    "scheme": "http",
    "path": "/v1/chat/completions",
    "raw_path": b"/v1/chat/completions",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"content-type", b"application/json")],
    "client": ("127.0.0.1", 5000),
    "server": ("127.0.0.1", 8080),
}


def as_chat(_: Any) -> TaskClassification:
    # The server's behaviour is under test, not the classifier's (it has its own tests).
    return TaskClassification(TaskType.CHAT, 0.9, [], "fixed for the test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fake_config(server: FakeProviderServer, **timeouts: float) -> dict[str, Any]:
    config = provider_config(server.providers["alpha"], server.providers["beta"])
    config["timeouts"] = {"connect": 1.0, "first_token": 2.0, "total": 20.0, **timeouts}
    return config


StartServer = Callable[..., str]


@pytest.fixture
def start_server(server: FakeProviderServer) -> Iterator[StartServer]:
    """Start a server app in a thread; returns its `/v1` base URL. Stopped after the test."""
    import uvicorn

    from openmux.server import create_app

    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(config: dict[str, Any] | None = None, **options: Any) -> str:
        options.setdefault("keys", ())
        options.setdefault("classifier", as_chat)
        app = create_app(config=config or fake_config(server), **options)
        port = free_port()
        app_server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        thread = threading.Thread(target=app_server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not app_server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        running.append((app_server, thread))
        return f"http://127.0.0.1:{port}/v1"

    yield start
    for app_server, thread in running:
        app_server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def base_url(start_server: StartServer) -> str:
    return start_server()
