"""A provider answering 200 with garbage on the wire: before the first token the request
fails over (the garbage recorded as a bad response), after it the stream ends with an
error, never with a clean answer cut short; nothing raw reaches the caller."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from openmux import ChatOpenMux, StreamInterrupted
from openmux.testing import FakeProviderServer, Fault

PROVIDERS = {
    "bad": dict(models=["m-bad"]),
    "good": dict(models=["m-good"], reply="the healthy answer"),
}

JSON = "application/json"
SSE = "text/event-stream"


def _llm(server: FakeProviderServer, fault: Fault) -> ChatOpenMux:
    server.providers["bad"].fault = fault
    config: dict[str, Any] = {
        "router": {"providers": ["bad", "good"]},
        "timeouts": {"first_token": 5, "total": 10},
        "providers": {
            name: {
                "protocol": "openai",
                "base_url": server.providers[name].base_url,
                "models": [f"m-{name}"],
            }
            for name in ("bad", "good")
        },
    }
    return ChatOpenMux(config=config)


def _completion(usage: Any) -> str:
    return json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "m-bad",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "the garbage answer"},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
    )


def _chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> str:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    event = {"id": "c-1", "object": "chat.completion.chunk", "model": "m-bad", "choices": choices}
    return "data: " + json.dumps({**event, **extra}) + "\n\n"


def _failed_over(message: BaseMessage, status: str = "bad_response") -> None:
    assert message.text == "the healthy answer"
    meta = message.response_metadata["openmux"]
    assert [(a["provider"], a["status"]) for a in meta["attempts"]] == [
        ("bad", status),
        ("good", "ok"),
    ]
    assert meta["attempts"][0]["error"]


NOT_COUNTS = {
    "strings": {"prompt_tokens": "a", "completion_tokens": "b", "total_tokens": "c"},
    "negatives": {"prompt_tokens": -5, "completion_tokens": -7, "total_tokens": -12},
}


@pytest.mark.parametrize("usage", list(NOT_COUNTS))
def test_a_usage_block_of_no_counts_fails_over(server: FakeProviderServer, usage: str) -> None:
    llm = _llm(server, Fault.garbage(_completion(NOT_COUNTS[usage]), content_type=JSON))
    _failed_over(llm.invoke("hello"))


@pytest.mark.parametrize("usage", list(NOT_COUNTS))
async def test_a_usage_block_of_no_counts_fails_over_async(
    server: FakeProviderServer, usage: str
) -> None:
    llm = _llm(server, Fault.garbage(_completion(NOT_COUNTS[usage]), content_type=JSON))
    _failed_over(await llm.ainvoke("hello"))


def _usage_after_text(usage: dict[str, Any]) -> str:
    usage_only = _chunk(None, usage=usage)
    return _chunk({"content": "Hi"}) + _chunk({}, "stop") + usage_only + "data: [DONE]\n\n"


@pytest.mark.parametrize("usage", list(NOT_COUNTS))
def test_a_streamed_usage_of_no_counts_ends_the_stream_with_an_error(
    server: FakeProviderServer, usage: str
) -> None:
    body = _usage_after_text(NOT_COUNTS[usage])
    llm = _llm(server, Fault.garbage(body, content_type=SSE))
    with pytest.raises(StreamInterrupted) as caught:
        list(llm.stream("hello"))
    assert caught.value.partial_text == "Hi"


@pytest.mark.parametrize("usage", list(NOT_COUNTS))
async def test_an_async_streamed_usage_of_no_counts_ends_the_stream_with_an_error(
    server: FakeProviderServer, usage: str
) -> None:
    body = _usage_after_text(NOT_COUNTS[usage])
    llm = _llm(server, Fault.garbage(body, content_type=SSE))
    with pytest.raises(StreamInterrupted) as caught:
        [chunk async for chunk in llm.astream("hello")]
    assert caught.value.partial_text == "Hi"
