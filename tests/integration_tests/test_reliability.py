"""Benching, circuit breakers, per-failure policy, deadlines and keep-alive timeouts."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from openmux import ChatOpenMux, NoProviderAvailable, TaskClassification, TaskType
from openmux.health import health_store
from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_config, run_child


def _as_chat(_: Any) -> TaskClassification:
    return TaskClassification(TaskType.CHAT, 0.9, [], "fixed for the test")


PROVIDERS = {
    "alpha": dict(models=["a1", "a2"], reply="from alpha"),
    "beta": dict(models=["b1"], reply="from beta"),
    "gamma": dict(models=["c1"], reply="from gamma"),
}


def _llm(server: FakeProviderServer, *names: str, **kwargs: Any) -> ChatOpenMux:
    providers = [server.providers[n] for n in (names or ("alpha", "beta"))]
    return ChatOpenMux(config=provider_config(*providers), classifier=_as_chat, **kwargs)


def _statuses(message: Any) -> list[tuple[str, str]]:
    return [(a["provider"], a["status"]) for a in message.response_metadata["openmux"]["attempts"]]


def test_rate_limit_benches_for_retry_after(server: FakeProviderServer) -> None:
    alpha = server.providers["alpha"]
    alpha.fault = Fault.status(429, retry_after=60)
    llm = _llm(server)
    first = llm.invoke("hi")
    assert _statuses(first)[0] == ("alpha", "rate_limited")
    hits = alpha.hits
    second = llm.invoke("hi")
    assert ("alpha", "circuit_open") in _statuses(second)
    assert alpha.hits == hits  # no request during the cool-down
    bench = health_store(llm.settings.state_dir).bench_of("alpha", "a1")
    assert bench is not None and bench.reason == "rate_limited"


def test_openrouter_reset_header_in_epoch_milliseconds(server: FakeProviderServer) -> None:
    import time

    reset_ms = int((time.time() + 30) * 1000)
    server.providers["alpha"].fault = Fault.status(
        429, headers={"X-RateLimit-Reset": str(reset_ms)}
    )
    llm = _llm(server)
    llm.invoke("hi")
    bench = health_store(llm.settings.state_dir).bench_of("alpha", "a1")
    assert bench is not None and 20 < bench.until - time.time() <= 31


def test_bench_is_shared_with_another_process(server: FakeProviderServer, tmp_path: Path) -> None:
    alpha = server.providers["alpha"]
    alpha.fault = Fault.status(429, retry_after=60)
    config = provider_config(alpha, server.providers["beta"])
    _llm(server).invoke("hi")
    hits = alpha.hits
    script = (
        "import json, sys\n"
        "from openmux import ChatOpenMux, TaskClassification, TaskType\n"
        "fixed = TaskClassification(TaskType.CHAT, 1.0, [], 't')\n"
        "llm = ChatOpenMux(config=json.loads(sys.argv[1]), classifier=lambda _: fixed)\n"
        "m = llm.invoke('hi')\n"
        "print(json.dumps(m.response_metadata['openmux']['attempts']))\n"
    )
    out = run_child(
        [sys.executable, "-c", script, json.dumps(config)], check=True, timeout=120
    ).stdout
    attempts = json.loads(out.strip().splitlines()[-1])
    assert attempts[0]["status"] == "circuit_open"
    assert alpha.hits == hits  # the other process sent nothing to the benched provider


def test_circuit_opens_after_consecutive_failures(server: FakeProviderServer) -> None:
    beta = server.providers["beta"]
    beta.fault = Fault.status(500)
    llm = _llm(server, "beta", "gamma")
    for _ in range(3):
        assert _statuses(llm.invoke("hi"))[-1] == ("gamma", "ok")
    hits = beta.hits
    assert ("beta", "circuit_open") in _statuses(llm.invoke("hi"))
    assert beta.hits == hits


def test_half_open_probe_closes_the_circuit(server: FakeProviderServer) -> None:
    llm = _llm(server, "beta", "gamma")
    store = health_store(llm.settings.state_dir)
    store.record_failure("beta", "b1", reason="http_5xx", bench_for=0.01)
    import time

    time.sleep(0.05)
    message = llm.invoke("hi")  # the bench is over: this request is the probe
    assert _statuses(message) == [("beta", "ok")]
    assert store.bench_of("beta", "b1") is None


@pytest.mark.parametrize("caller", ["invoke", "ainvoke"])
def test_no_hedge_races_a_candidate_waiting_out_a_short_retry_after(
    server: FakeProviderServer, caller: str
) -> None:
    # The hedge timer (0.2 s) fires during the provider's Retry-After (1 s): had the wait
    # counted as slowness, beta would have been raced in and answered first.
    alpha = server.providers["alpha"]
    alpha.fault = Fault.status(429, retry_after=1)
    llm = _llm(server, "alpha", "beta", hedge_after_ms=200)
    before = len(alpha.requests)

    def heal_after_the_first_request() -> None:
        while len(alpha.requests) == before:
            threading.Event().wait(0.01)
        alpha.fault = None

    healer = threading.Thread(target=heal_after_the_first_request, daemon=True)
    healer.start()
    message = llm.invoke("hi") if caller == "invoke" else asyncio.run(llm.ainvoke("hi"))
    healer.join(timeout=5)
    assert _statuses(message) == [("alpha", "rate_limited"), ("alpha", "ok")]


def test_waits_for_the_soonest_benched_candidate(server: FakeProviderServer) -> None:
    beta = server.providers["beta"]
    beta.fault = Fault.status(429, retry_after=1)
    llm = _llm(server, "beta")
    timer = threading.Timer(0.5, lambda: setattr(beta, "fault", None))
    timer.start()
    try:
        message = llm.invoke("hi")
    finally:
        timer.cancel()
    statuses = _statuses(message)
    assert statuses[0] == ("beta", "rate_limited")
    assert statuses[-1] == ("beta", "ok")


def test_does_not_wait_past_the_deadline(server: FakeProviderServer) -> None:
    server.providers["beta"].fault = Fault.status(429, retry_after=30)
    with pytest.raises(NoProviderAvailable) as caught:
        _llm(server, "beta", timeout=2).invoke("hi")
    assert caught.value.attempts[0]["status"] == "rate_limited"


def test_auth_disables_provider_for_the_process_with_hint(server: FakeProviderServer) -> None:
    config = {
        "router": {"providers": ["groq", "gamma"]},
        "providers": {
            "groq": {"base_url": server.providers["alpha"].base_url, "models": ["a1"]},
            "gamma": provider_config(server.providers["gamma"])["providers"]["gamma"],
        },
    }
    server.providers["alpha"].fault = Fault.status(401)
    llm = ChatOpenMux(config=config, classifier=_as_chat)
    assert _statuses(llm.invoke("hi")) == [("groq", "auth"), ("gamma", "ok")]
    hits = server.providers["alpha"].hits
    assert _statuses(llm.invoke("hi"))[0] == ("groq", "auth")
    assert server.providers["alpha"].hits == hits
    server.providers["gamma"].fault = Fault.status(500)
    with pytest.raises(NoProviderAvailable) as caught:
        llm.invoke("hi")
    assert any("GROQ_API_KEY" in hint for hint in caught.value.hints)


def test_payment_required_benches_the_whole_provider(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.status(402)
    llm = _llm(server)
    assert _statuses(llm.invoke("hi")) == [("alpha", "payment_required"), ("beta", "ok")]
    server.providers["alpha"].fault = None
    statuses = _statuses(llm.invoke("hi"))
    assert statuses[:2] == [("alpha", "circuit_open"), ("alpha", "circuit_open")]


def test_content_policy_refusal_stops_with_the_provider_reason(
    server: FakeProviderServer,
) -> None:
    server.providers["alpha"].fault = Fault.status(400, message="Flagged by content policy")
    with pytest.raises(NoProviderAvailable, match="Flagged by content policy") as caught:
        _llm(server).invoke("hi")
    assert [a["status"] for a in caught.value.attempts] == ["content_policy"]
    assert server.providers["beta"].hits == 0  # the refused text went nowhere else


def test_context_length_skips_to_a_larger_context(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_core.messages import HumanMessage

    from openmux.config import load_settings
    from openmux.providers import ModelEntry, ProviderFailure
    from openmux.routing import Candidate, Router, RouteRequest, react

    settings = load_settings()
    small = Candidate(settings.providers["groq"], ModelEntry("small", context_length=8_000), "r")
    request = RouteRequest(messages=[HumanMessage("x")])
    react(Router(settings), small, request, ProviderFailure("context_length", "too long"))
    assert request.min_context == 8_001


def test_retry_same_candidate_once_when_usually_healthy(server: FakeProviderServer) -> None:
    calls = {"n": 0}

    def reply(_: dict[str, Any]) -> str:
        calls["n"] += 1
        if calls["n"] == 7:
            raise RuntimeError("one transient failure")
        return "from beta"

    beta = server.providers["beta"]
    beta.reply = reply
    try:
        llm = _llm(server, "beta", "gamma")
        for _ in range(6):
            llm.invoke("hi")
        assert _statuses(llm.invoke("hi")) == [("beta", "http_5xx"), ("beta", "ok")]
    finally:
        beta.reply = "from beta"


def test_keepalive_comments_do_not_count_as_first_token(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.slow_first_token(seconds=5, keepalive=True)
    config = provider_config(server.providers["alpha"], server.providers["beta"])
    config["timeouts"] = {"first_token": 0.5}
    llm = ChatOpenMux(config=config, classifier=_as_chat)
    chunks = list(llm.stream("hi"))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert _statuses(merged)[0] == ("alpha", "timeout")
    # Comments kept the connection busy; without the first-token deadline the fake's answer
    # after 5 s would have been "ok", not "timeout".
    assert _statuses(llm.invoke("hi"))[-1][0] == "beta"


def test_flaky_providers_together_answer_nearly_everything(server: FakeProviderServer) -> None:
    for seed, name in enumerate(("alpha", "beta", "gamma")):
        server.providers[name].fault = Fault.flaky(rate=0.3, seed=seed, fault=Fault.status(500))
    llm = _llm(server, "alpha", "beta", "gamma")
    answered = 0
    for _ in range(100):
        try:
            llm.invoke("hi")
            answered += 1
        except NoProviderAvailable:
            pass
    assert answered >= 99


async def test_concurrent_requests_with_a_flaky_provider(server: FakeProviderServer) -> None:
    import asyncio

    server.providers["alpha"].fault = Fault.flaky(rate=0.3, seed=7, fault=Fault.status(500))
    llm = _llm(server, "alpha", "beta")
    results = await asyncio.gather(*(llm.ainvoke("hi") for _ in range(100)))
    assert all(r.text for r in results)


def _hedging_llm(server: FakeProviderServer, **router: Any) -> ChatOpenMux:
    config = provider_config(server.providers["alpha"], server.providers["beta"])
    config["router"].update(router)
    config["timeouts"] = {"first_token": 5}
    config["providers"]["alpha"]["models"] = ["a1"]
    return ChatOpenMux(config=config, classifier=_as_chat)


def _hedge_statuses(message: Any) -> list[tuple[str, str, bool]]:
    attempts = message.response_metadata["openmux"]["attempts"]
    return [(a["provider"], a["status"], a["hedged"]) for a in attempts]


def test_hedge_answers_while_the_first_candidate_hangs(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.hang()
    message = _hedging_llm(server, hedge_after_ms=200).invoke("hi")
    assert message.text.startswith("from beta")
    assert sorted(_hedge_statuses(message)) == [("alpha", "cancelled", False), ("beta", "ok", True)]


async def test_async_hedge_cancels_the_loser(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.hang()
    message = await _hedging_llm(server, hedge_after_ms=200).ainvoke("hi")
    assert message.text.startswith("from beta")
    assert sorted(_hedge_statuses(message)) == [("alpha", "cancelled", False), ("beta", "ok", True)]


async def test_async_lead_answers_after_its_hedge_failed(server: FakeProviderServer) -> None:
    server.providers["alpha"].latency = 0.5
    server.providers["beta"].fault = Fault.garbage()
    try:
        message = await _hedging_llm(server, hedge_after_ms=100).ainvoke("hi")
    finally:
        server.providers["alpha"].latency = 0
    assert message.text.startswith("from alpha")
    assert sorted(_hedge_statuses(message)) == [
        ("alpha", "ok", False),
        ("beta", "bad_response", True),
    ]


async def test_async_lead_answering_first_cancels_its_hedge(server: FakeProviderServer) -> None:
    server.providers["alpha"].latency = 0.4
    server.providers["beta"].fault = Fault.slow_first_token(3.0)
    try:
        message = await _hedging_llm(server, hedge_after_ms=100).ainvoke("hi")
    finally:
        server.providers["alpha"].latency = 0
    assert message.text.startswith("from alpha")
    assert sorted(_hedge_statuses(message)) == [("alpha", "ok", False), ("beta", "cancelled", True)]


async def test_a_hedge_that_wins_leaves_the_callers_task_uncancelled(
    server: FakeProviderServer,
) -> None:
    # The first candidate is called in the caller's task, and the winning hedge interrupts
    # it with a cancel that the race takes back.
    server.providers["alpha"].fault = Fault.hang()
    message = await _hedging_llm(server, hedge_after_ms=200).ainvoke("hi")
    assert message.text.startswith("from beta")
    task = asyncio.current_task()
    assert task is not None
    if sys.version_info >= (3, 11):
        assert task.cancelling() == 0
    await asyncio.sleep(0.01)  # no cancel is left pending for the caller


async def test_a_deadline_around_a_hedged_call_still_fires(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.hang()
    server.providers["beta"].fault = Fault.hang()
    llm = _hedging_llm(server, hedge_after_ms=100)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(llm.ainvoke("hi"), 0.5)


async def test_a_race_its_first_candidate_wins_starts_no_task(server: FakeProviderServer) -> None:
    loop = asyncio.get_running_loop()
    started: list[object] = []

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        started.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    hedging = _hedging_llm(server, hedge_after_ms=60_000)
    plain = _hedging_llm(server, hedge_after_ms=False)
    await hedging.ainvoke("hi")  # connections and models are made once, before counting
    await plain.ainvoke("hi")
    loop.set_task_factory(counting)
    try:
        await plain.ainvoke("hi")
        without_race = len(started)
        message = await hedging.ainvoke("hi")
    finally:
        loop.set_task_factory(None)
    assert _hedge_statuses(message) == [("alpha", "ok", False)]
    assert len(started) - without_race == without_race


def test_no_hedge_when_the_first_answers_in_time(server: FakeProviderServer) -> None:
    message = _hedging_llm(server, hedge_after_ms=60_000).invoke("hi")
    assert _hedge_statuses(message) == [("alpha", "ok", False)]
    assert server.providers["beta"].hits == 0


def test_no_hedging_with_tools_unless_enabled(server: FakeProviderServer) -> None:
    from langchain_core.tools import tool

    @tool
    def send_email(to: str) -> str:
        """Send an email (a side effect)."""
        return "sent"

    server.providers["alpha"].latency = 0.6
    try:
        llm = _hedging_llm(server, hedge_after_ms=100).bind_tools([send_email])
        message = llm.invoke("email bob")
        assert _hedge_statuses(message) == [("alpha", "ok", False)]
        assert server.providers["beta"].hits == 0
    finally:
        server.providers["alpha"].latency = 0
    server.providers["alpha"].fault = Fault.hang()  # only a hedge can answer now
    hedging = _hedging_llm(server, hedge_after_ms=100, hedge_tools=True).bind_tools([send_email])
    assert ("beta", "ok", True) in _hedge_statuses(hedging.invoke("email bob"))


def test_hedging_can_be_switched_off(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.hang()
    config = provider_config(server.providers["alpha"], server.providers["beta"])
    config["router"]["hedge_after_ms"] = False
    config["timeouts"] = {"first_token": 0.5}
    message = ChatOpenMux(config=config, classifier=_as_chat).invoke("hi")
    assert _statuses(message)[0] == ("alpha", "timeout")
