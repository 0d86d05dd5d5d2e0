"""A chat answer's bookkeeping (health, quota and usage counts, metrics) runs once the
response is sent: the client does not wait for it, and a client that leaves loses none."""

from __future__ import annotations

import json
from typing import Any

import pytest

from openmux.testing import FakeProviderServer
from tests.integration_tests.server.conftest import (
    CHAT_SCOPE,
    FAKE_PROVIDERS,
    as_chat,
    fake_config,
)

PROVIDERS = FAKE_PROVIDERS
BODY = json.dumps({"model": "alpha:shared", "messages": [{"role": "user", "content": "Hi"}]})


def _recorded(app: Any) -> tuple[float | None, bool]:
    """The answer's first-token time in health, and whether metrics counted its attempt."""
    server = app.state.openmux
    first_token = server.chat.router.health.p95_first_token_ms("alpha", "shared")
    counted = b'openmux_attempts_total{provider="alpha",status="ok"} 1.0' in (
        server.metrics.exposition()
    )
    return first_token, counted


@pytest.fixture
def app(server: FakeProviderServer) -> Any:
    from openmux.server import create_app

    return create_app(config=fake_config(server), keys=(), classifier=as_chat)


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": BODY.encode(), "more_body": False}


async def test_the_answer_leaves_before_its_counts(app: Any) -> None:
    seen_at_send: list[tuple[float | None, bool]] = []
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body":
            seen_at_send.append(_recorded(app))

    await app(dict(CHAT_SCOPE), _receive, send)

    assert sent[0]["status"] == 200
    assert json.loads(sent[-1]["body"])["choices"][0]["message"]["content"]
    assert seen_at_send == [(None, False)]
    first_token, counted = _recorded(app)
    assert first_token is not None and counted


async def test_a_client_that_left_loses_no_count(app: Any) -> None:
    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            raise OSError("the client left")

    with pytest.raises(OSError, match="the client left"):
        await app(dict(CHAT_SCOPE), _receive, send)

    first_token, counted = _recorded(app)
    assert first_token is not None and counted
