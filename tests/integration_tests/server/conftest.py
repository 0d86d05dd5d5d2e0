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


def as_chat(_: Any) -> TaskClassification:
    # The server's behaviour is under test, not the classifier's (it has its own tests).
    return TaskClassification(TaskType.CHAT, 0.9, [], "fixed for the test")


@pytest.fixture(scope="module")
def fakes() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:
        for name, reply in (("alpha", ALPHA_REPLY), ("beta", BETA_REPLY)):
            server.add_provider(
                name, models=["shared", f"{name}-only"], embedding_models=["embed-1"], reply=reply
            )
        yield server


@pytest.fixture(autouse=True)
def healthy(fakes: FakeProviderServer) -> None:
    for provider in fakes.providers.values():
        provider.fault = None
        provider.reset()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fake_config(fakes: FakeProviderServer, **timeouts: float) -> dict[str, Any]:
    config = provider_config(fakes.providers["alpha"], fakes.providers["beta"])
    config["timeouts"] = {"connect": 1.0, "first_token": 2.0, "total": 20.0, **timeouts}
    return config


StartServer = Callable[..., str]


@pytest.fixture
def start_server(fakes: FakeProviderServer) -> Iterator[StartServer]:
    """Start a server app in a thread; returns its `/v1` base URL. Stopped after the test."""
    import uvicorn

    from openmux.server import create_app

    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(config: dict[str, Any] | None = None, **options: Any) -> str:
        options.setdefault("keys", ())
        options.setdefault("classifier", as_chat)
        app = create_app(config=config or fake_config(fakes), **options)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        running.append((server, thread))
        return f"http://127.0.0.1:{port}/v1"

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def base_url(start_server: StartServer) -> str:
    return start_server()
