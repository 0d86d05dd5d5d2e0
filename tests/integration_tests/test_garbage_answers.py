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


# An answer cut short that ends like a complete one: no finish reason, no `[DONE]` (a
# proxy closing the body cleanly), or the last event itself cut; or OpenRouter's
# finish reason "error" without an error object.
CUT_STREAMS = {
    "no finish, no done": _chunk({"content": "Hi"}) + _chunk({"content": " there"}),
    "last event cut": _chunk({"content": "Hi"}) + 'data: {"choices": [{"ind',
    "finish error": _chunk({"content": "Hi"}) + _chunk({}, "error") + "data: [DONE]\n\n",
}


@pytest.mark.parametrize("cut", list(CUT_STREAMS))
def test_a_stream_cut_short_after_its_first_token_ends_with_an_error(
    server: FakeProviderServer, cut: str
) -> None:
    llm = _llm(server, Fault.garbage(CUT_STREAMS[cut], content_type=SSE))
    with pytest.raises(StreamInterrupted) as caught:
        list(llm.stream("hello"))
    assert caught.value.partial_text.startswith("Hi")
    assert server.providers["good"].hits == 0  # never spliced with another answer


@pytest.mark.parametrize("cut", list(CUT_STREAMS))
async def test_an_async_stream_cut_short_after_its_first_token_ends_with_an_error(
    server: FakeProviderServer, cut: str
) -> None:
    llm = _llm(server, Fault.garbage(CUT_STREAMS[cut], content_type=SSE))
    with pytest.raises(StreamInterrupted) as caught:
        [chunk async for chunk in llm.astream("hello")]
    assert caught.value.partial_text.startswith("Hi")


def _ended_in_error() -> str:
    body = json.loads(_completion(None))
    body["choices"][0]["finish_reason"] = "error"
    return json.dumps(body)


def test_an_answer_that_finished_in_error_fails_over(server: FakeProviderServer) -> None:
    _failed_over(_llm(server, Fault.garbage(_ended_in_error(), content_type=JSON)).invoke("hi"))


async def test_an_answer_that_finished_in_error_fails_over_async(
    server: FakeProviderServer,
) -> None:
    llm = _llm(server, Fault.garbage(_ended_in_error(), content_type=JSON))
    _failed_over(await llm.ainvoke("hi"))


def test_a_complete_stream_without_done_is_an_answer(server: FakeProviderServer) -> None:
    body = _chunk({"content": "Hi"}) + _chunk({}, "stop")
    chunks = list(_llm(server, Fault.garbage(body, content_type=SSE)).stream("hello"))
    assert "".join(chunk.text for chunk in chunks) == "Hi"
    assert chunks[-1].response_metadata["openmux"]["provider"] == "bad"


# A body its Content-Encoding does not describe: the provider's garbage, not a network
# failure (which would be retried on the spot, and read as the network's fault).
UNDECODABLE = {
    "gzip that is not": {"Content-Encoding": "gzip"},
    "deflate that is not": {"Content-Encoding": "deflate"},
}


def _undecodable(encoding: str, *, stream: bool) -> Fault:
    body = _completion(None) if not stream else _chunk({"content": "Hi"}) + _chunk({}, "stop")
    content_type = SSE if stream else JSON
    return Fault.garbage(body, content_type=content_type, headers=UNDECODABLE[encoding])


@pytest.mark.parametrize("encoding", list(UNDECODABLE))
def test_a_body_that_does_not_decompress_is_a_bad_response(
    server: FakeProviderServer, encoding: str
) -> None:
    _failed_over(_llm(server, _undecodable(encoding, stream=False)).invoke("hello"))


@pytest.mark.parametrize("encoding", list(UNDECODABLE))
async def test_a_body_that_does_not_decompress_is_a_bad_response_async(
    server: FakeProviderServer, encoding: str
) -> None:
    _failed_over(await _llm(server, _undecodable(encoding, stream=False)).ainvoke("hello"))


@pytest.mark.parametrize("encoding", list(UNDECODABLE))
def test_a_stream_that_does_not_decompress_is_a_bad_response(
    server: FakeProviderServer, encoding: str
) -> None:
    chunks = list(_llm(server, _undecodable(encoding, stream=True)).stream("hello"))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    _failed_over(merged)


@pytest.mark.parametrize("encoding", list(UNDECODABLE))
async def test_an_async_stream_that_does_not_decompress_is_a_bad_response(
    server: FakeProviderServer, encoding: str
) -> None:
    chunks = [
        chunk async for chunk in _llm(server, _undecodable(encoding, stream=True)).astream("hi")
    ]
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    _failed_over(merged)


def _tool_calls(*calls: dict[str, Any]) -> str:
    body = json.loads(_completion(None))
    body["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": calls}
    body["choices"][0]["finish_reason"] = "tool_calls"
    return json.dumps(body)


BAD_TOOL_CALLS = {
    "arguments not JSON": {"id": "call_1", "function": {"name": "add", "arguments": "{oops"}},
    "arguments not an object": {"id": "call_1", "function": {"name": "add", "arguments": "[1]"}},
    "no id": {"type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}},
}


def add(a: int) -> int:
    """Add one to a."""
    return a + 1


@pytest.mark.parametrize("call", list(BAD_TOOL_CALLS))
def test_a_tool_call_that_cannot_be_made_fails_over(server: FakeProviderServer, call: str) -> None:
    fault = Fault.garbage(_tool_calls(BAD_TOOL_CALLS[call]), content_type=JSON)
    message = _llm(server, fault).bind_tools([add]).invoke("add one to 1")
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [("add", {"a": 1})]
    assert message.tool_calls[0]["id"]
    statuses = [
        (a["provider"], a["status"]) for a in message.response_metadata["openmux"]["attempts"]
    ]
    assert statuses == [("bad", "bad_response"), ("good", "ok")]


@pytest.mark.parametrize("call", list(BAD_TOOL_CALLS))
async def test_a_tool_call_that_cannot_be_made_fails_over_async(
    server: FakeProviderServer, call: str
) -> None:
    fault = Fault.garbage(_tool_calls(BAD_TOOL_CALLS[call]), content_type=JSON)
    message = await _llm(server, fault).bind_tools([add]).ainvoke("add one to 1")
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [("add", {"a": 1})]
    statuses = [
        (a["provider"], a["status"]) for a in message.response_metadata["openmux"]["attempts"]
    ]
    assert statuses == [("bad", "bad_response"), ("good", "ok")]


def _streamed_call(*parts: str) -> str:
    """A streamed tool call whose arguments arrive in `parts`, then its finish."""
    first = {"index": 0, "id": "call_1", "type": "function"}
    events = [
        _chunk({"tool_calls": [{**first, "function": {"name": "f", "arguments": parts[0]}}]}),
        *(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in parts[1:]),
    ]
    return "".join(events) + _chunk({}, "tool_calls") + "data: [DONE]\n\n"


@pytest.mark.parametrize("parts", [("{oo", "ps"), ("[1", "]")], ids=["not JSON", "a list"])
def test_a_streamed_tool_call_that_cannot_be_made_ends_with_an_error(
    server: FakeProviderServer, parts: tuple[str, ...]
) -> None:
    llm = _llm(server, Fault.garbage(_streamed_call(*parts), content_type=SSE))
    with pytest.raises(StreamInterrupted):
        list(llm.stream("call f"))


async def test_an_async_streamed_tool_call_that_cannot_be_made_ends_with_an_error(
    server: FakeProviderServer,
) -> None:
    llm = _llm(server, Fault.garbage(_streamed_call("{oo", "ps"), content_type=SSE))
    with pytest.raises(StreamInterrupted):
        [chunk async for chunk in llm.astream("call f")]


def test_a_streamed_tool_call_in_pieces_is_an_answer(server: FakeProviderServer) -> None:
    llm = _llm(server, Fault.garbage(_streamed_call('{"city": ', '"Paris"}'), content_type=SSE))
    chunks = list(llm.stream("call f"))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert merged.tool_calls == [  # type: ignore[attr-defined]
        {"name": "f", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"}
    ]


# Some OpenAI-compatible servers end a stream with `[DONE]` and never send a finish reason:
# it finished, as `openmux serve` reads it (an answer, not a provider's failure).
DONE_WITHOUT_FINISH = _chunk({"content": "Hi"}) + _chunk({"content": " there"}) + "data: [DONE]\n\n"


def _answered_by_bad(chunks: list[BaseMessage]) -> None:
    assert "".join(chunk.text for chunk in chunks) == "Hi there"
    meta = chunks[-1].response_metadata["openmux"]
    assert [(a["provider"], a["status"]) for a in meta["attempts"]] == [("bad", "ok")]


def test_a_stream_ended_by_done_without_a_finish_reason_is_an_answer(
    server: FakeProviderServer,
) -> None:
    llm = _llm(server, Fault.garbage(DONE_WITHOUT_FINISH, content_type=SSE))
    _answered_by_bad(list(llm.stream("hello")))


async def test_an_async_stream_ended_by_done_without_a_finish_reason_is_an_answer(
    server: FakeProviderServer,
) -> None:
    llm = _llm(server, Fault.garbage(DONE_WITHOUT_FINISH, content_type=SSE))
    _answered_by_bad([chunk async for chunk in llm.astream("hello")])


# HTTP framing broken after the status line: the provider answered (and spent a request
# of its free quota on it), with garbage. A bad response to fail over from, not a
# connection failure to send again to the same provider on the spot.
BAD_FRAMING = {
    "bad chunk size": dict(short_body=False),
    "body shorter than its length": dict(short_body=True),
}


def _bad_framing(framing: str, *, stream: bool) -> Fault:
    body = _chunk({"content": "Hi"})[:20] if stream else _completion(None)[:40]
    return Fault.bad_framing(body, content_type=SSE if stream else JSON, **BAD_FRAMING[framing])


def _failed_over_once(server: FakeProviderServer, message: BaseMessage) -> None:
    _failed_over(message)
    assert server.providers["bad"].hits == 1


@pytest.mark.parametrize("framing", list(BAD_FRAMING))
def test_broken_framing_is_a_bad_response_not_sent_again(
    server: FakeProviderServer, framing: str
) -> None:
    _failed_over_once(server, _llm(server, _bad_framing(framing, stream=False)).invoke("hi"))


@pytest.mark.parametrize("framing", list(BAD_FRAMING))
async def test_broken_framing_is_a_bad_response_not_sent_again_async(
    server: FakeProviderServer, framing: str
) -> None:
    llm = _llm(server, _bad_framing(framing, stream=False))
    _failed_over_once(server, await llm.ainvoke("hi"))


def _merged(chunks: list[BaseMessage]) -> BaseMessage:
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk  # type: ignore[operator]
    return merged


@pytest.mark.parametrize("framing", list(BAD_FRAMING))
def test_a_stream_of_broken_framing_is_a_bad_response_not_sent_again(
    server: FakeProviderServer, framing: str
) -> None:
    llm = _llm(server, _bad_framing(framing, stream=True))
    _failed_over_once(server, _merged(list(llm.stream("hi"))))


@pytest.mark.parametrize("framing", list(BAD_FRAMING))
async def test_an_async_stream_of_broken_framing_is_a_bad_response_not_sent_again(
    server: FakeProviderServer, framing: str
) -> None:
    llm = _llm(server, _bad_framing(framing, stream=True))
    _failed_over_once(server, _merged([chunk async for chunk in llm.astream("hi")]))
