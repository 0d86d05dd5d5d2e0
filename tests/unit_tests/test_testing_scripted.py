"""The scripted model behind openmux.testing, without any HTTP."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from openmux.testing import Fault
from openmux.testing._openai import parse_chat
from openmux.testing._scripted import (
    ChatRequest,
    ToolSpec,
    embed,
    embedding_inputs,
    make_reply,
    new_tool_call_id,
    split_tokens,
)


def _request(text: str = "hi", **kwargs: Any) -> ChatRequest:
    messages = kwargs.pop("messages", [{"role": "user", "content": text}])
    return ChatRequest(model="m-1", messages=messages, raw={}, **kwargs)


def test_default_reply_greets_and_echoes() -> None:
    reply = make_reply("good", _request("What is up?"), None)
    assert reply.text == "Hello from good! You said: What is up?"
    assert reply.finish_reason == "stop"
    assert reply.tool_calls == []
    assert reply.prompt_tokens > 0
    assert reply.completion_tokens == len(split_tokens(reply.text))


def test_reply_string_and_callable() -> None:
    assert make_reply("p", _request(), "fixed").text == "fixed"
    seen: list[dict[str, Any]] = []

    def answer(body: dict[str, Any]) -> str:
        seen.append(body)
        return "from callable"

    request = parse_chat({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "m")
    assert make_reply("p", request, answer).text == "from callable"
    assert seen == [request.raw]


def test_stop_cuts_at_first_stop_string() -> None:
    reply = make_reply("p", _request(stop=["lo", "from"]), "Hello from p")
    assert reply.text == "Hel"
    assert reply.finish_reason == "stop"


def test_max_tokens_truncates_with_length() -> None:
    reply = make_reply("p", _request(max_tokens=2), "one two three four")
    assert reply.text == "one two"
    assert reply.finish_reason == "length"
    assert reply.completion_tokens == 2


def test_split_tokens_round_trips() -> None:
    text = "  Hello,  wörld!\nNew line "
    assert "".join(split_tokens(text)) == text


def test_content_lists_and_images_are_accepted() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        }
    ]
    reply = make_reply("p", _request(messages=messages), None)
    assert "I see 1 image." in reply.text
    assert "Describe" in reply.text


_ADDER = ToolSpec(
    "my_adder_tool",
    "Adds a and b.",
    {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
)
_WEATHER = ToolSpec(
    "get_weather",
    "Weather at a place.",
    {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
)


def test_tool_call_takes_numbers_in_order() -> None:
    reply = make_reply("p", _request("What is 3 + 4", tools=[_ADDER]), None)
    assert reply.finish_reason == "tool_calls"
    assert reply.text == ""
    (call,) = reply.tool_calls
    assert call.name == "my_adder_tool"
    assert call.arguments == {"a": 3, "b": 4}
    assert call.id.startswith("call_")
    assert len(call.id) == len("call_") + 24
    assert call.id[5:].isalnum()


def test_tool_choice_variants() -> None:
    tools = [_ADDER, _WEATHER]
    # "auto": a tool named in the prompt wins, else the first tool
    assert make_reply("p", _request("use get_weather", tools=tools), None).tool_calls[0].name == (
        "get_weather"
    )
    assert make_reply("p", _request("Hello!", tools=tools), None).tool_calls[0].name == (
        "my_adder_tool"
    )
    forced = make_reply("p", _request("add 1 and 2", tools=tools, tool_choice="get_weather"), None)
    assert forced.tool_calls[0].name == "get_weather"
    none = make_reply("p", _request("add", tools=tools, tool_choice="none"), "plain")
    assert none.tool_calls == [] and none.text == "plain"


def test_tool_result_gets_a_text_answer() -> None:
    messages = [
        {"role": "user", "content": "What is 1 + 2"},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "tool_call_id": "abc", "content": '{"result": 3}'},
    ]
    reply = make_reply("p", _request(messages=messages, tools=[_ADDER]), None)
    assert reply.tool_calls == []
    assert '{"result": 3}' in reply.text


def test_parse_chat_tool_choice_forms() -> None:
    def choice(value: Any) -> str | None:
        return parse_chat({"messages": [], "tool_choice": value}, "m").tool_choice

    assert choice("auto") == "auto"
    assert choice("required") == "required"
    assert choice("any") == "required"
    assert choice({"type": "function", "function": {"name": "f"}}) == "f"
    assert choice({"type": "tool", "name": "g"}) == "g"
    assert choice(None) is None


def test_unicode_quoted_strings_fill_string_arguments() -> None:
    spec = ToolSpec(
        "unicode_customer",
        "",
        {
            "type": "object",
            "properties": {"customer_name": {"type": "string"}, "description": {"type": "string"}},
            "required": ["customer_name", "description"],
        },
    )
    reply = make_reply(
        "p", _request("Create a customer named '你好啊集团' (Hello)", tools=[spec]), None
    )
    args = reply.tool_calls[0].arguments
    assert args["customer_name"] == "你好啊集团"
    assert isinstance(args["description"], str) and args["description"]
    assert "你好啊集团" in reply.tool_calls[0].arguments_json  # not \\u-escaped


_SCHEMA: dict[str, Any] = {
    "type": "object",
    "$defs": {
        "Color": {"type": "string", "enum": ["red", "green"]},
        "Point": {
            "type": "object",
            "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
            "required": ["x", "y"],
        },
    },
    "properties": {
        "name": {"type": "string", "minLength": 3},
        "age": {"type": "integer", "minimum": 0, "exclusiveMaximum": 5},
        "score": {"type": "number"},
        "ok": {"type": "boolean"},
        "color": {"$ref": "#/$defs/Color"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "point": {"$ref": "#/$defs/Point"},
        "maybe": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
        "when": {"type": "string", "format": "date-time"},
        "kind": {"const": "fixed"},
    },
    "required": ["name", "age"],
}


def test_json_schema_output_is_valid_against_the_schema() -> None:
    reply = make_reply("p", _request("age 9 and score 2.5", json_schema=_SCHEMA), None)
    value = json.loads(reply.text)
    assert set(value) == set(_SCHEMA["properties"])
    assert value["age"] == 4  # 9 clamped below exclusiveMaximum 5
    assert value["score"] == 2.5
    assert value["ok"] is True
    assert value["color"] == "red"
    assert len(value["tags"]) == 2
    assert set(value["point"]) == {"x", "y"}
    assert isinstance(value["maybe"], int)
    assert value["when"].endswith("Z")
    assert value["kind"] == "fixed"
    assert len(value["name"]) >= 3


def test_json_mode_uses_keys_quoted_in_prompt() -> None:
    prompt = "Return a JSON with 'setup' and 'punchline' keys. What's up?"
    value = json.loads(make_reply("p", _request(prompt, json_mode=True), None).text)
    assert set(value) == {"setup", "punchline"}
    plain = json.loads(make_reply("p", _request("hi", json_mode=True), None).text)
    assert set(plain) == {"response"}


def test_embeddings_are_deterministic_unit_vectors() -> None:
    a = embed("foo", "e-1")
    assert a == embed("foo", "e-1")
    assert a != embed("bar", "e-1")
    assert a != embed("foo", "e-2")
    assert len(a) == 16
    assert math.isclose(sum(v * v for v in a), 1.0, rel_tol=1e-9)
    assert len(embed("foo", "e-1", dims=40)) == 40


def test_embedding_inputs_forms() -> None:
    assert embedding_inputs("a") == ["a"]
    assert embedding_inputs(["a", "b"]) == ["a", "b"]
    assert embedding_inputs([1, 2, 3]) == ["1 2 3"]
    assert embedding_inputs([[1, 2], [3]]) == ["1 2", "3"]


def test_tool_call_ids_are_unique() -> None:
    assert len({new_tool_call_id() for _ in range(50)}) == 50


def test_flaky_is_deterministic_with_seed() -> None:
    def pattern() -> list[bool]:
        fault = Fault.flaky(0.3, seed=7)
        return [fault.resolve() is not None for _ in range(200)]

    first = pattern()
    assert first == pattern()
    assert 30 <= sum(first) <= 90


def test_flaky_rejects_bad_rate() -> None:
    with pytest.raises(ValueError):
        Fault.flaky(1.5)


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("status:500", "status"),
        ("error_body:429", "error_body"),
        ("garbage", "garbage"),
        ("hang", "hang"),
        ("disconnect", "disconnect"),
        ("slow:0.5", "slow_first_token"),
        ("slow_keepalive:0.5", "slow_first_token"),
        ("mid_stream_error:3", "mid_stream_error"),
        ("stalls:1", "stalls"),
        ("stalls_keepalive:2", "stalls"),
        ("flaky:0.2", "flaky"),
        ("loading", "loading"),
    ],
)
def test_fault_parse(spec: str, kind: str) -> None:
    assert Fault.parse(spec).kind == kind


def test_fault_parse_details_and_errors() -> None:
    fault = Fault.parse("status:429:2")
    assert (fault.status_code, fault.retry_after) == (429, 2.0)
    assert Fault.parse("slow_keepalive:1").keepalive is True
    stalls = Fault.parse("stalls_keepalive:2")
    assert (stalls.after_chunks, stalls.keepalive) == (2, True)
    flaky = Fault.parse("flaky:0.5:502")
    assert flaky.fault is not None and flaky.fault.status_code == 502
    with pytest.raises(ValueError):
        Fault.parse("nope")
    with pytest.raises(ValueError):
        Fault.parse("status")
