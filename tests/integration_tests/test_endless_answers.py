"""A provider whose answer never ends: it drips without stopping, or sends a body of
gigabytes. The request's total time ends an answer awaited whole, and memory stays
bounded; a stream its reader sees arrive is not cut."""

from __future__ import annotations

import operator
import time
from functools import reduce
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from openmux import ChatOpenMux, NoProviderAvailable
from openmux.providers import _first_token
from openmux.testing import FakeProviderServer, Fault
from tests.helpers import gzip_bomb, provider_config

PROVIDERS = {
    "slow": dict(models=["m-slow"], reply="word " * 400),
    "good": dict(models=["m-good"], reply="the healthy answer"),
}

TOTAL = 3.0
SLACK = 2.0
"""Past the total time, what the end of an answer may take (a slow shared machine)."""
SAFETY = 30.0
"""A fault still running this long means nothing ended it: the fake gives up."""


def _llm(server: FakeProviderServer, *names: str, protocol: str = "openai") -> ChatOpenMux:
    providers = (server.providers[name] for name in names)
    config: dict[str, Any] = provider_config(*providers, protocol=protocol)
    config["timeouts"] = {"first_token": 5, "total": TOTAL}
    config["router"]["hedge_after_ms"] = False
    return ChatOpenMux(config=config)


def _a_stream_longer_than_the_total_time(server: FakeProviderServer) -> ChatOpenMux:
    server.providers["slow"].stream_delay = (TOTAL + SLACK) / 400  # 400 words
    return _llm(server, "slow", "good")


def _whole(text: str, started: float) -> None:
    assert time.monotonic() - started > TOTAL
    assert text == "word " * 400


def test_a_stream_read_past_the_total_time_is_not_cut(server: FakeProviderServer) -> None:
    """Its reader sees it arrive, and stops reading when it will: a slow local server's
    long answer is no hang (the total time bounds a whole answer awaited, below)."""
    started = time.monotonic()
    chunks = list(_a_stream_longer_than_the_total_time(server).stream("hello"))
    _whole("".join(chunk.text for chunk in chunks), started)


async def test_an_async_stream_read_past_the_total_time_is_not_cut(
    server: FakeProviderServer,
) -> None:
    started = time.monotonic()
    llm = _a_stream_longer_than_the_total_time(server)
    _whole("".join([chunk.text async for chunk in llm.astream("hello")]), started)


def _a_dripping_answer(server: FakeProviderServer, protocol: str = "openai") -> ChatOpenMux:
    server.providers["slow"].fault = Fault.endless(0.05, seconds=SAFETY)
    return _llm(server, "slow", "good", protocol=protocol)


def _timed_out(caught: NoProviderAvailable, started: float) -> None:
    assert time.monotonic() - started < TOTAL + SLACK
    assert [(a["provider"], a["status"]) for a in caught.attempts] == [("slow", "timeout")]


def test_an_answer_that_drips_on_ends_at_the_total_time(server: FakeProviderServer) -> None:
    llm = _a_dripping_answer(server)
    started = time.monotonic()
    with pytest.raises(NoProviderAvailable) as caught:
        llm.invoke("hello")
    _timed_out(caught.value, started)


@pytest.mark.parametrize("protocol", ["openai", "ollama"])
async def test_an_async_answer_that_drips_on_ends_at_the_total_time(
    server: FakeProviderServer, protocol: str
) -> None:
    llm = _a_dripping_answer(server, protocol)
    started = time.monotonic()
    with pytest.raises(NoProviderAvailable) as caught:
        await llm.ainvoke("hello")
    _timed_out(caught.value, started)


@pytest.fixture
def small_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A smaller cap on an answer's size, reached in a moment."""
    monkeypatch.setattr(_first_token, "MAX_ANSWER_BYTES", 1 << 20)


def _a_body_of_gigabytes(server: FakeProviderServer, protocol: str = "openai") -> ChatOpenMux:
    # Paced, so that a client reading it all meanwhile holds megabytes, not gigabytes.
    server.providers["slow"].fault = Fault.endless(0.01, seconds=SAFETY)
    return _llm(server, "slow", "good", protocol=protocol)


def _too_large_failed_over(message: BaseMessage) -> None:
    assert message.text == "the healthy answer"
    attempts = message.response_metadata["openmux"]["attempts"]
    assert [(a["provider"], a["status"]) for a in attempts] == [
        ("slow", "bad_response"),
        ("good", "ok"),
    ]
    assert "larger than" in attempts[0]["error"]


@pytest.mark.usefixtures("small_answers")
def test_an_answer_too_large_fails_over(server: FakeProviderServer) -> None:
    _too_large_failed_over(_a_body_of_gigabytes(server).invoke("hello"))


@pytest.mark.usefixtures("small_answers")
@pytest.mark.parametrize("protocol", ["openai", "ollama"])
async def test_an_async_answer_too_large_fails_over(
    server: FakeProviderServer, protocol: str
) -> None:
    _too_large_failed_over(await _a_body_of_gigabytes(server, protocol).ainvoke("hello"))


@pytest.mark.usefixtures("small_answers")
def test_a_stream_line_too_large_fails_over(server: FakeProviderServer) -> None:
    chunks = list(_a_body_of_gigabytes(server).stream("hello"))
    _too_large_failed_over(reduce(operator.add, chunks))


@pytest.mark.usefixtures("small_answers")
@pytest.mark.parametrize("protocol", ["openai", "ollama"])
async def test_an_async_stream_line_too_large_fails_over(
    server: FakeProviderServer, protocol: str
) -> None:
    chunks = [chunk async for chunk in _a_body_of_gigabytes(server, protocol).astream("hello")]
    _too_large_failed_over(reduce(operator.add, chunks))


def _a_gzip_bomb(server: FakeProviderServer, streamed: bool, protocol: str) -> ChatOpenMux:
    server.providers["slow"].fault = Fault.garbage(
        gzip_bomb(b'data: {"choices": "' if streamed else b'{"choices": "'),
        content_type="text/event-stream" if streamed else "application/json",
        headers={"Content-Encoding": "gzip"},
    )
    config: dict[str, Any] = provider_config(
        server.providers["slow"], server.providers["good"], protocol=protocol
    )
    config["timeouts"] = {"first_token": 5, "total": SAFETY}
    config["router"]["hedge_after_ms"] = False
    return ChatOpenMux(config=config)


BOMBED = [("openai", False), ("openai", True), ("ollama", False)]
BOMBED_IDS = ["invoke", "stream", "ollama invoke"]


@pytest.mark.usefixtures("small_answers")
@pytest.mark.parametrize(("protocol", "streamed"), BOMBED, ids=BOMBED_IDS)
def test_a_gzip_bomb_fails_over(server: FakeProviderServer, protocol: str, streamed: bool) -> None:
    """The cap counts the answer's bytes as inflated: a small compressed body is no
    small answer."""
    llm = _a_gzip_bomb(server, streamed, protocol)
    if streamed:
        _too_large_failed_over(reduce(operator.add, llm.stream("hello")))
    else:
        _too_large_failed_over(llm.invoke("hello"))


@pytest.mark.usefixtures("small_answers")
@pytest.mark.parametrize(("protocol", "streamed"), BOMBED, ids=BOMBED_IDS)
async def test_an_async_gzip_bomb_fails_over(
    server: FakeProviderServer, protocol: str, streamed: bool
) -> None:
    llm = _a_gzip_bomb(server, streamed, protocol)
    if streamed:
        _too_large_failed_over(reduce(operator.add, [c async for c in llm.astream("hello")]))
    else:
        _too_large_failed_over(await llm.ainvoke("hello"))
