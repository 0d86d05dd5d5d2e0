"""Recovery: a hang is paid once, a bench is short and probed by one request, a transient
error is retried on the same provider, and what a provider does not state is not assumed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler

from openmux import ChatOpenMux, NoProviderAvailable, TaskClassification, TaskType
from openmux.health import HealthStore, health_store
from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_config

PROVIDERS = {
    "alpha": dict(models=["a1"], reply="from alpha"),
    "beta": dict(models=["b1"], reply="from beta"),
}


def _as_chat(_: Any) -> TaskClassification:
    return TaskClassification(TaskType.CHAT, 0.9, [], "fixed for the test")


def _llm(server: FakeProviderServer, **router: Any) -> ChatOpenMux:
    config = provider_config(server.providers["alpha"], server.providers["beta"])
    config["router"].update(router)
    return ChatOpenMux(config=config, classifier=_as_chat)


def _statuses(message: Any) -> list[tuple[str, str]]:
    return [(a["provider"], a["status"]) for a in message.response_metadata["openmux"]["attempts"]]


def test_a_hanging_provider_is_benched_after_the_hedge_answers(
    server: FakeProviderServer,
) -> None:
    alpha = server.providers["alpha"]
    alpha.fault = Fault.hang()
    llm = _llm(server, hedge_after_ms=200)
    assert llm.invoke("hi").text.startswith("from beta")
    bench = health_store(llm.settings.state_dir).bench_of("alpha", "a1")
    assert bench is not None and bench.reason == "timeout"
    hits = alpha.hits
    second = llm.invoke("hi")
    assert _statuses(second) == [("alpha", "circuit_open"), ("beta", "ok")]
    assert alpha.hits == hits  # nobody waits on the hanging provider again


async def test_an_async_hedge_benches_the_hanging_loser(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.hang()
    llm = _llm(server, hedge_after_ms=200)
    assert (await llm.ainvoke("hi")).text.startswith("from beta")
    second = await llm.ainvoke("hi")
    assert _statuses(second) == [("alpha", "circuit_open"), ("beta", "ok")]


def test_a_fresh_provider_gets_one_retry_after_a_500(server: FakeProviderServer) -> None:
    calls = {"n": 0}

    def reply(_: dict[str, Any]) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("one transient failure")
        return "from alpha"

    server.providers["alpha"].reply = reply
    message = _llm(server).invoke("hi")
    assert _statuses(message) == [("alpha", "http_5xx"), ("alpha", "ok")]


def test_a_short_retry_after_on_a_503_benches_nobody(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.status(503, retry_after=2)
    llm = _llm(server)
    assert _statuses(llm.invoke("hi"))[-1] == ("beta", "ok")
    assert health_store(llm.settings.state_dir).bench_of("alpha", "a1") is None


def test_a_long_retry_after_on_a_503_benches(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.status(503, retry_after=60)
    llm = _llm(server)
    llm.invoke("hi")
    assert health_store(llm.settings.state_dir).bench_of("alpha", "a1") is not None


def test_the_breaker_bench_is_capped() -> None:
    store = HealthStore(None)
    for _ in range(20):
        until = store.record_failure("p", "m", reason="http_5xx", failures_to_open=1)
    assert until - time.time() <= HealthStore.MAX_COOL_DOWN


def test_one_request_probes_a_lapsed_bench_while_the_others_skip_it() -> None:
    store = HealthStore(None)
    store.record_failure("p", "m", reason="http_5xx", bench_for=0.01)
    time.sleep(0.05)
    assert store.bench_of("p", "m") is None  # looking claims nothing
    assert store.bench_of("p", "m", probe=True) is None  # this caller is the probe
    waiting = store.bench_of("p", "m", probe=True)
    assert waiting is not None and "probe in flight" in waiting.reason
    store.record_success("p", "m")
    assert store.bench_of("p", "m", probe=True) is None
    assert store.bench_of("p", "m", probe=True) is None  # closed: everyone may call it


def test_a_failed_probe_benches_again() -> None:
    store = HealthStore(None)
    store.record_failure("p", "m", reason="timeout", bench_for=0.01)
    time.sleep(0.05)
    assert store.bench_of("p", "m", probe=True) is None
    store.record_failure("p", "m", reason="timeout", failures_to_open=1)
    assert store.bench_of("p", "m") is not None


def test_a_model_of_unknown_context_is_tried_after_a_context_length_error(
    server: FakeProviderServer,
) -> None:
    server.providers["alpha"].fault = Fault.status(
        400, message="This model's maximum context length is 8192 tokens"
    )
    # Neither list nor catalog states a context length: the failure says nothing of beta's.
    llm = _llm(server)
    message = llm.invoke("hi")
    assert _statuses(message) == [("alpha", "context_length"), ("beta", "ok")]


def test_content_policy_is_not_asked_elsewhere(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.status(
        400, message="Your request was flagged by our content filter"
    )
    with pytest.raises(NoProviderAvailable, match="content filter"):
        _llm(server).invoke("hi")
    assert server.providers["beta"].hits == 0


def _merged(chunks: list[Any]) -> Any:
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    return merged


def test_a_stream_is_hedged_before_its_first_chunk(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.slow_first_token(seconds=30)
    merged = _merged(list(_llm(server, hedge_after_ms=200).stream("hi")))
    assert merged.text.startswith("from beta")
    meta = merged.response_metadata["openmux"]
    assert meta["provider"] == "beta"
    assert sorted(_statuses(merged)) == [("alpha", "cancelled"), ("beta", "ok")]


async def test_an_async_stream_is_hedged_before_its_first_chunk(
    server: FakeProviderServer,
) -> None:
    server.providers["alpha"].fault = Fault.hang()
    llm = _llm(server, hedge_after_ms=200)
    merged = _merged([chunk async for chunk in llm.astream("hi")])
    assert merged.text.startswith("from beta")
    assert sorted(_statuses(merged)) == [("alpha", "cancelled"), ("beta", "ok")]
    hits = server.providers["alpha"].hits
    again = _merged([chunk async for chunk in llm.astream("hi")])
    assert _statuses(again) == [("alpha", "circuit_open"), ("beta", "ok")]
    assert server.providers["alpha"].hits == hits


def test_a_short_retry_after_of_a_rate_limit_is_waited_out(server: FakeProviderServer) -> None:
    # Seed 1 draws a hit, then a miss: the first request is limited, the retry answers.
    limited_once = Fault.flaky(0.5, seed=1, fault=Fault.status(429, retry_after=1))
    server.providers["alpha"].fault = limited_once
    message = _llm(server, hedge_after_ms=False).invoke("hi")
    assert _statuses(message) == [("alpha", "rate_limited"), ("alpha", "ok")]


def test_a_long_retry_after_of_a_rate_limit_moves_on(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.status(429, retry_after=30)
    message = _llm(server).invoke("hi")
    assert _statuses(message) == [("alpha", "rate_limited"), ("beta", "ok")]


class _Watching(BaseCallbackHandler):
    """Any handler makes the run a traced one (the graph of Runnables)."""


def test_a_traced_stream_is_hedged_before_its_first_chunk(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.hang()
    llm = _llm(server, hedge_after_ms=200)
    merged = _merged(list(llm.stream("hi", config={"callbacks": [_Watching()]})))
    assert merged.text.startswith("from beta")
    assert sorted(_statuses(merged)) == [("alpha", "cancelled"), ("beta", "ok")]


async def test_a_traced_async_stream_is_hedged_before_its_first_chunk(
    server: FakeProviderServer,
) -> None:
    server.providers["alpha"].fault = Fault.hang()
    llm = _llm(server, hedge_after_ms=200)
    config: Any = {"callbacks": [_Watching()]}
    merged = _merged([chunk async for chunk in llm.astream("hi", config=config)])
    assert merged.text.startswith("from beta")
    assert sorted(_statuses(merged)) == [("alpha", "cancelled"), ("beta", "ok")]


def _asked_twice(llm: ChatOpenMux, form: str) -> Any:
    async def asked() -> Any:
        for _ in range(2):
            if form == "ainvoke":
                message = await llm.ainvoke("hello")
            else:
                message = _merged([chunk async for chunk in llm.astream("hello")])
        return message

    if form in ("ainvoke", "astream"):
        return asyncio.run(asked())
    for _ in range(2):
        message = llm.invoke("hello") if form == "invoke" else _merged(list(llm.stream("hello")))
    return message


@pytest.mark.parametrize("form", ["invoke", "stream", "ainvoke", "astream"])
def test_a_kept_alive_connection_the_server_closed_is_not_a_failure(
    server: FakeProviderServer, form: str
) -> None:
    alpha = server.providers["alpha"]
    alpha.fault = Fault.closes_idle()
    message = _asked_twice(_llm(server), form)
    assert message.text == "from alpha"
    assert _statuses(message) == [("alpha", "ok")]
