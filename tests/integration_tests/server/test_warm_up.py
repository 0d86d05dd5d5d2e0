"""The server warms up as it starts: the first request's loading is paid then, with no
call to any provider; a process that is the server's own also freezes its heap."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
from typing import Any

import pytest

from openmux import TaskClassification
from openmux.server import create_app
from openmux.testing import FakeProviderServer
from tests.integration_tests.server.conftest import (
    CHAT_SCOPE,
    FAKE_PROVIDERS,
    as_chat,
    fake_config,
)

PROVIDERS = FAKE_PROVIDERS


async def _start_and_stop(app: Any) -> list[str]:
    """Run the app's ASGI lifespan through startup and shutdown; the events it sent."""
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return next(incoming)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    return sent


@pytest.mark.parametrize("freeze_heap", [False, True], ids=["embedded", "own-process"])
def test_startup_loads_the_request_path_and_calls_no_provider(
    server: FakeProviderServer, freeze_heap: bool
) -> None:
    classified: list[Any] = []

    def classifier(messages: Any) -> TaskClassification:
        classified.append(messages)
        return as_chat(messages)

    from openmux.providers import _http, _http1

    # What the first call would otherwise load: a TLS context (its CA bundle) and the
    # user agent's version.
    _http.ssl_context.cache_clear()
    _http1.user_agent.cache_clear()
    app = create_app(
        config=fake_config(server), classifier=classifier, keys=(), freeze_heap=freeze_heap
    )
    frozen_before = gc.get_freeze_count()
    try:
        sent = asyncio.run(_start_and_stop(app))
        frozen = gc.get_freeze_count() > frozen_before
    finally:
        gc.unfreeze()  # the test process is not the server's own
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert len(classified) == 1  # the classifier is loaded and has run once
    assert [provider.hits for provider in server.providers.values()] == [0, 0]
    assert _http.ssl_context.cache_info().currsize == 1
    assert _http1.user_agent.cache_info().currsize == 1
    assert frozen is freeze_heap


def test_a_warm_up_that_fails_does_not_stop_the_server(server: FakeProviderServer) -> None:
    def broken(messages: Any) -> TaskClassification:
        raise RuntimeError("the classifier's file is damaged")

    app = create_app(config=fake_config(server), classifier=broken, keys=())
    assert asyncio.run(_start_and_stop(app)) == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


async def test_a_served_answer_builds_only_what_it_calls(server: FakeProviderServer) -> None:
    """A request's OpenAI body goes to the provider's endpoint as it came: no LangChain
    chat model is built for it (its imports cost a first request about 0.6 s)."""
    from openmux.providers import _http

    app = create_app(config=fake_config(server), classifier=as_chat, keys=())
    body = {"model": "openmux/auto", "messages": [{"role": "user", "content": "Hi"}]}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(dict(CHAT_SCOPE), receive, send)

    assert sent[0]["status"] == 200
    pool = app.state.openmux.chat.router.pool
    built = _http.loop_cache(asyncio.get_running_loop(), pool)
    assert [what for what, _, _ in built] == ["openai-body"]


_STARTUP = """
import asyncio, json, sys
from openmux.server import create_app
from tests.integration_tests.server.test_warm_up import _start_and_stop

app = create_app(config=json.loads(sys.argv[1]), keys=())
loaded = ("langchain_openai", "anyio._backends._asyncio")
before = [name in sys.modules for name in loaded]
asyncio.run(_start_and_stop(app))
print(json.dumps([before, [name in sys.modules for name in loaded]]))
"""


def test_startup_loads_what_embeddings_fanout_members_and_the_model_list_need(
    server: FakeProviderServer,
) -> None:
    """A served chat answer needs no LangChain provider package, but embeddings and
    fan-out members are built from one, and the model list runs in anyio's thread pool:
    the first such request imports neither."""
    run = subprocess.run(
        [sys.executable, "-c", _STARTUP, json.dumps(fake_config(server))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.splitlines()[-1]) == [[False, False], [True, True]]
