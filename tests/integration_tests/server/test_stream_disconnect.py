"""A client that leaves mid-stream stops the answer: the server sends nothing more and
the stream does not end as if it were whole."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.requests import ClientDisconnect

from openmux.server import create_app
from openmux.testing import FakeProviderServer
from tests.integration_tests.server.conftest import (
    CHAT_SCOPE,
    FAKE_PROVIDERS,
    as_chat,
    fake_config,
)

PROVIDERS = FAKE_PROVIDERS


def _slow_stream(server: FakeProviderServer) -> tuple[Any, bytes]:
    """The app, and a streamed request whose answer (200 words, 50 ms apart) takes 10 s."""
    server.providers["alpha"].reply = "word " * 200
    server.providers["alpha"].stream_delay = 0.05
    app = create_app(config=fake_config(server), classifier=as_chat, keys=())
    request = json.dumps(
        {"model": "alpha:shared", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    ).encode()
    return app, request


async def test_a_client_that_leaves_stops_the_stream(server: FakeProviderServer) -> None:
    app, request = _slow_stream(server)
    sent: list[dict[str, Any]] = []
    first_event = asyncio.Event()
    received = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        if received == 1:
            return {"type": "http.request", "body": request, "more_body": False}
        await first_event.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message.get("body"):
            first_event.set()

    await asyncio.wait_for(app(dict(CHAT_SCOPE), receive, send), 30)
    assert sent[0]["status"] == 200
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert body.startswith(b"data: ")
    assert b"[DONE]" not in body
    assert body.count(b"data: ") < 100  # 200 words were coming, 50 ms apart
    # The provider was asked all the same: its attempt counts, in usage and in /metrics.
    served = app.state.openmux
    rows = served.chat.router.quotas.usage.rows()
    assert [(r.provider, r.model, r.status) for r in rows] == [("alpha", "shared", "cancelled")]
    counted = b'openmux_attempts_total{provider="alpha",status="cancelled"} 1.0'
    assert counted in served.metrics.exposition()


async def test_a_send_to_a_client_that_left_stops_the_stream(server: FakeProviderServer) -> None:
    """ASGI spec 2.4 servers say a client left by failing the send."""
    app, request = _slow_stream(server)
    bodies: list[bytes] = []
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if not bodies:
            return {"type": "http.request", "body": request, "more_body": False}
        await never.wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message.get("body"):
            if bodies:
                raise OSError("the client left")
            bodies.append(message["body"])

    scope = {**CHAT_SCOPE, "asgi": {"version": "3.0", "spec_version": "2.4"}}
    with pytest.raises(ClientDisconnect):
        await asyncio.wait_for(app(scope, receive, send), 30)
    assert len(bodies) == 1 and b"[DONE]" not in bodies[0]
