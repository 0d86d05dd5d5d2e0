"""A request waiting for a connection of this process's own pool has not reached the
provider: its deadlines have not started, it starts no hedge and benches nothing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from openmux import ChatOpenMux, NoProviderAvailable, TaskClassification, TaskType
from openmux.health import health_store
from openmux.providers import _http
from openmux.testing import FakeProviderServer
from tests.helpers import provider_config

PROVIDERS = {
    "alpha": dict(models=["a1"], reply="from alpha"),
    "beta": dict(models=["b1"], reply="from beta"),
}


def _as_chat(_: Any) -> TaskClassification:
    return TaskClassification(TaskType.CHAT, 0.9, [], "fixed for the test")


@pytest.fixture
def one_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each event loop's pool is built when the loop first calls out: from here on, with
    a single connection. The process-wide sync pools, built once and kept, are built
    before, at their usual size, so that later tests do not inherit a tiny one."""
    _http.sync_client()
    _http.sync_transport()
    monkeypatch.setattr(_http, "MAX_CONNECTIONS", 1)


async def _burst(llm: ChatOpenMux, count: int) -> list[Any]:
    return await asyncio.gather(*(llm.ainvoke("hi") for _ in range(count)), return_exceptions=True)


def _benches(llm: ChatOpenMux) -> list[Any]:
    store = health_store(llm.settings.state_dir)
    return [store.bench_of("alpha", "a1"), store.bench_of("beta", "b1")]


@pytest.mark.usefixtures("one_connection")
def test_requests_queued_in_the_pool_start_no_hedge(server: FakeProviderServer) -> None:
    alpha = server.providers["alpha"]
    alpha.latency = 0.2
    config = provider_config(alpha, server.providers["beta"])
    config["router"]["hedge_after_ms"] = 3000
    llm = ChatOpenMux(config=config, classifier=_as_chat)
    # Twenty calls through one connection: the last waits about 4 s for it, longer than
    # the hedge delay, though each answers 0.2 s after it is sent.
    answers = asyncio.run(_burst(llm, 20))
    assert [a.content for a in answers] == ["from alpha"] * 20
    tried = {a["provider"] for m in answers for a in m.response_metadata["openmux"]["attempts"]}
    assert tried == {"alpha"}  # no hedge started, not even one cancelled before sending
    assert _benches(llm) == [None, None]


@pytest.mark.usefixtures("one_connection")
def test_a_pool_timeout_benches_nothing(server: FakeProviderServer) -> None:
    alpha = server.providers["alpha"]
    alpha.latency = 0.4
    config = provider_config(alpha)
    config["router"]["hedge_after_ms"] = False
    config["timeouts"] = {"total": 1.0}
    llm = ChatOpenMux(config=config, classifier=_as_chat)
    outcomes = asyncio.run(_burst(llm, 6))
    failed = [o for o in outcomes if isinstance(o, NoProviderAvailable)]
    assert failed  # the last ones found no free connection within the deadline
    assert all(a["status"] == "timeout" for f in failed for a in f.attempts)
    assert _benches(llm) == [None, None]
    assert asyncio.run(llm.ainvoke("again")).content == "from alpha"


async def test_a_deadline_passed_while_the_loop_stalled_fails_nothing(
    server: FakeProviderServer,
) -> None:
    alpha = server.providers["alpha"]
    config = provider_config(alpha, server.providers["beta"])
    config["router"]["hedge_after_ms"] = False
    config["timeouts"] = {"first_token": 0.5}
    llm = ChatOpenMux(config=config, classifier=_as_chat)
    await llm.ainvoke("warm up")  # clients built: the next request goes out at once

    async def hold_the_loop() -> None:
        await asyncio.sleep(0.1)
        time.sleep(1.5)  # nothing on this loop runs: its timers come due all at once

    # Past the first-token deadline, but most of that wait was this loop's own stall.
    alpha.latency = 1.8
    answer, _ = await asyncio.gather(llm.ainvoke("hi"), hold_the_loop())
    assert answer.content == "from alpha"
    assert [a["provider"] for a in answer.response_metadata["openmux"]["attempts"]] == ["alpha"]
    assert _benches(llm) == [None, None]
