"""Each fault kind as the first provider, a healthy one second: every call form answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk

from openmux import ChatOpenMux
from openmux.testing import FakeProviderServer, Fault

FAULTS: dict[str, tuple[Callable[[], Fault | None], str]] = {
    "refused": (lambda: None, "connection"),
    "http_500": (lambda: Fault.status(500), "http_5xx"),
    "http_429_retry_after": (lambda: Fault.status(429, retry_after=7), "rate_limited"),
    "error_in_200_body": (
        lambda: Fault.error_body(code=429, message="Rate limit exceeded"),
        "rate_limited",
    ),
    "garbage_body": (lambda: Fault.garbage(), "bad_response"),
    "hang": (lambda: Fault.hang(), "timeout"),
    "error_before_first_chunk": (lambda: Fault.mid_stream_error(after_chunks=0), "bad_response"),
}


PROVIDERS = {
    "bad": dict(models=["m-bad"]),
    "good": dict(models=["m-good"], reply="the healthy answer"),
}


def _llm(server: FakeProviderServer, fault_name: str) -> ChatOpenMux:
    bad = server.providers["bad"]
    make_fault, _ = FAULTS[fault_name]
    bad.fault = make_fault()
    bad_url = server.dead_url() if fault_name == "refused" else bad.base_url
    config: dict[str, Any] = {
        "router": {"providers": ["bad", "good"]},
        "timeouts": {"first_token": 0.5, "total": 5},
        "providers": {
            "bad": {"protocol": "openai", "base_url": bad_url, "models": ["m-bad"]},
            "good": {
                "protocol": "openai",
                "base_url": server.providers["good"].base_url,
                "models": ["m-good"],
            },
        },
    }
    return ChatOpenMux(config=config)


# A JSON error body answering a streaming request never reaches the OpenAI SDK's
# stream parser as an event: the stream just ends empty, which reads as a bad response.
STREAM_STATUS = {"error_in_200_body": "bad_response"}


# A transient failure of a provider with no bad history is retried once on the spot.
RETRIED_ONCE = {"connection", "http_5xx"}


def _check(message: AIMessage | AIMessageChunk, expected_status: str) -> None:
    assert "the healthy answer" in message.text
    meta = message.response_metadata["openmux"]
    assert meta["provider"] == "good"
    tries = 2 if expected_status in RETRIED_ONCE else 1
    assert [(a["provider"], a["status"]) for a in meta["attempts"]] == [
        *[("bad", expected_status)] * tries,
        ("good", "ok"),
    ]
    assert meta["attempts"][0]["error"]


@pytest.mark.parametrize("fault_name", list(FAULTS))
def test_invoke_fails_over(server: FakeProviderServer, fault_name: str) -> None:
    _check(_llm(server, fault_name).invoke("hello"), FAULTS[fault_name][1])


@pytest.mark.parametrize("fault_name", list(FAULTS))
def test_stream_fails_over_before_first_chunk(server: FakeProviderServer, fault_name: str) -> None:
    chunks = list(_llm(server, fault_name).stream("hello"))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    _check(merged, STREAM_STATUS.get(fault_name, FAULTS[fault_name][1]))
    assert sum("openmux" in c.response_metadata for c in chunks) == 1


@pytest.mark.parametrize("fault_name", list(FAULTS))
async def test_ainvoke_fails_over(server: FakeProviderServer, fault_name: str) -> None:
    _check(await _llm(server, fault_name).ainvoke("hello"), FAULTS[fault_name][1])


@pytest.mark.parametrize("fault_name", list(FAULTS))
async def test_astream_fails_over(server: FakeProviderServer, fault_name: str) -> None:
    chunks = [chunk async for chunk in _llm(server, fault_name).astream("hello")]
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    _check(merged, STREAM_STATUS.get(fault_name, FAULTS[fault_name][1]))
