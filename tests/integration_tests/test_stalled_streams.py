"""A stream that goes quiet after its first chunks: it sends nothing more, or only
keep-alive comments, while its connection stays open. The first-token timeout also
bounds the wait between a stream's pieces of data (keep-alive comments extend neither),
so such a stream ends with `StreamInterrupted`, never with a hang or a clean end."""

from __future__ import annotations

import time
from typing import Any

import pytest

from openmux import ChatOpenMux, StreamInterrupted
from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_config

PROVIDERS = {"quiet": dict(models=["m-quiet"], reply="word " * 40)}

FIRST_TOKEN = 1.0
SLACK = 4.0
"""Past the first-token timeout, what ending the stream may take (a slow shared machine)."""
SAFETY = 30.0
"""A stall still running this long means nothing ended it: the fake gives up."""

# Ollama streams have no comments: one of its servers can only go silent. An OpenAI
# stream's data events with nothing in them (an empty delta) bring no more than comments.
STALLS = [("openai", True), ("openai", False), ("ollama", False), ("openai", "empty")]
STALL_IDS = ["keep-alive comments", "silence", "ollama silence", "empty data events"]


def _llm(
    server: FakeProviderServer, keepalive: bool | str, protocol: str = "openai"
) -> ChatOpenMux:
    provider = server.providers["quiet"]
    empty = keepalive == "empty"
    provider.fault = Fault.stalls(
        1, keepalive=keepalive is True, empty_events=empty, seconds=SAFETY
    )
    config: dict[str, Any] = provider_config(provider, protocol=protocol)
    config["timeouts"] = {"first_token": FIRST_TOKEN, "total": SAFETY * 2}
    config["router"]["hedge_after_ms"] = False
    return ChatOpenMux(config=config)


def _interrupted(caught: StreamInterrupted, partial: str, started: float) -> None:
    assert time.monotonic() - started < FIRST_TOKEN + SLACK
    assert partial.startswith("word") and len(partial) < len("word " * 2)
    assert caught.partial_text == partial
    assert [(a["provider"], a["status"]) for a in caught.attempts] == [
        ("quiet", "stream_interrupted")
    ]
    assert "failed mid-stream (timeout:" in str(caught)


@pytest.mark.parametrize(("protocol", "keepalive"), STALLS, ids=STALL_IDS)
def test_a_stream_that_goes_quiet_is_interrupted(
    server: FakeProviderServer, protocol: str, keepalive: bool | str
) -> None:
    llm = _llm(server, keepalive, protocol)
    started = time.monotonic()
    received: list[str] = []
    with pytest.raises(StreamInterrupted) as caught:
        for chunk in llm.stream("hello"):
            received.append(chunk.text)
    _interrupted(caught.value, "".join(received), started)


@pytest.mark.parametrize(("protocol", "keepalive"), STALLS, ids=STALL_IDS)
async def test_an_async_stream_that_goes_quiet_is_interrupted(
    server: FakeProviderServer, protocol: str, keepalive: bool | str
) -> None:
    llm = _llm(server, keepalive, protocol)
    started = time.monotonic()
    received: list[str] = []
    with pytest.raises(StreamInterrupted) as caught:
        async for chunk in llm.astream("hello"):
            received.append(chunk.text)
    _interrupted(caught.value, "".join(received), started)


def test_keep_alive_comments_between_slow_words_do_not_end_a_stream(
    server: FakeProviderServer,
) -> None:
    """Data that keeps coming, however slowly within the timeout, is no stall."""
    provider = server.providers["quiet"]
    provider.fault = Fault.slow_first_token(FIRST_TOKEN * 0.8, keepalive=True)
    provider.stream_delay = FIRST_TOKEN * 0.3
    provider.reply = "a b c d e f"
    config: dict[str, Any] = provider_config(provider)
    config["timeouts"] = {"first_token": FIRST_TOKEN, "total": SAFETY}
    text = "".join(chunk.text for chunk in ChatOpenMux(config=config).stream("hello"))
    assert text == "a b c d e f"
