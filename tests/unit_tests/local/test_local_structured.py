"""JSON replies without a grammar: the schema check, which tools a call may use, the sampler."""

from __future__ import annotations

import numpy as np
import pytest

from openmux.local._generation import Sampling
from openmux.local._sampling import TokenSampler
from openmux.local._structured import (
    LocalStructuredOutputError,
    LocalToolsUnsupported,
    json_instruction,
    parse_json_reply,
    response_schema,
    schema_problem,
    tool_arguments,
)
from openmux.local._tools import tool_request

CITY = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "population": {"type": "integer"},
        "size": {"enum": ["small", "large"]},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "population"],
}
TOOL = {"type": "function", "function": {"name": "City", "parameters": CITY}}
OTHER = {"type": "function", "function": {"name": "Other", "parameters": {}}}


def test_a_fitting_value_has_no_problem() -> None:
    value = {"name": "Oslo", "population": 700000, "size": "large", "note": None, "tags": ["x"]}
    assert schema_problem(value, CITY) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"name": "Oslo"}, "lacks the required key 'population'"),
        ({"name": "Oslo", "population": "many"}, "'population' must be of type integer"),
        ({"name": "Oslo", "population": True}, "'population' must be of type integer"),
        ({"name": "Oslo", "population": 1, "size": "huge"}, "must be one of"),
        ({"name": "Oslo", "population": 1, "note": 3}, "fits none of the allowed shapes"),
        ({"name": "Oslo", "population": 1, "tags": [1]}, "item 0 must be of type string"),
        (["Oslo"], "the reply must be of type object"),
    ],
)
def test_problems_are_named(value: object, problem: str) -> None:
    found = schema_problem(value, CITY)
    assert found is not None and problem in found


def test_the_first_json_object_is_taken_from_the_reply() -> None:
    assert parse_json_reply('Sure! {"a": 1} and {"b": 2}') == {"a": 1}
    with pytest.raises(ValueError, match="no JSON object"):
        parse_json_reply("no braces here")
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_json_reply('{"a": ')


def test_response_formats_map_to_schemas() -> None:
    assert response_schema(None) is None
    assert response_schema({"type": "text"}) is None
    assert response_schema({"type": "json_object"}) == {}
    assert response_schema({"type": "json_schema", "schema": CITY}) == CITY
    wrapped = {"type": "json_schema", "json_schema": {"name": "City", "schema": CITY}}
    assert response_schema(wrapped) == CITY


def test_the_instruction_shows_the_shape_not_the_schema() -> None:
    text = json_instruction(CITY)
    assert '"name": "..."' in text and '"population": 0' in text
    assert "properties" not in text  # a small model shown the schema copies it back


def test_tool_choice_decides_which_tools_a_call_may_use() -> None:
    asked = [{"role": "user", "content": "hi"}]
    assert tool_request(None, None, asked, "m") is None
    assert tool_request([TOOL, OTHER], "none", asked, "m") is None
    named = {"type": "function", "function": {"name": "City"}}
    for forced in (named, "City"):
        request = tool_request([TOOL, OTHER], forced, asked, "m")
        assert request is not None and (request.tools, request.may_answer) == ((TOOL,), False)
    required = tool_request([TOOL, OTHER], "required", asked, "m")
    assert required is not None and (required.tools, required.may_answer) == ((TOOL, OTHER), False)
    for free in (None, "auto"):
        request = tool_request([TOOL, OTHER], free, asked, "m")
        assert request is not None and request.may_answer and request.answer_option == "no_tool"
    # One round of calls per user turn: after the results, "auto" answers from them.
    answered = [*asked, {"role": "tool", "content": "42"}]
    assert tool_request([TOOL], "auto", answered, "m") is None


def test_what_the_local_model_cannot_honour_is_refused_in_one_line() -> None:
    asked = [{"role": "user", "content": "hi"}]
    with pytest.raises(ValueError, match=r"tool_choice names 'Nope'.*bound: City, Other"):
        tool_request([TOOL, OTHER], "Nope", asked, "m")
    with pytest.raises(LocalToolsUnsupported, match=r"m cannot call a 'web_search' tool"):
        tool_request([TOOL, {"type": "web_search"}], "auto", asked, "m")
    named_no_tool = {"type": "function", "function": {"name": "no_tool", "parameters": {}}}
    request = tool_request([named_no_tool], "auto", asked, "m")
    assert request is not None and request.answer_option != "no_tool"


def test_tool_arguments_that_do_not_fit_raise_not_vanish() -> None:
    assert tool_arguments('{"name": "Oslo", "population": 1}', TOOL)["name"] == "Oslo"
    with pytest.raises(LocalStructuredOutputError, match=r"tool 'City'.*population"):
        tool_arguments('{"name": "Oslo"}', TOOL)


def test_greedy_sampling_takes_the_largest_logit() -> None:
    logits = np.array([0.1, 3.0, 2.0, -1.0], dtype=np.float32)
    assert TokenSampler(Sampling()).pick(logits, []) == 1


def test_the_penalty_applies_to_generated_tokens_but_not_end_tokens() -> None:
    logits = np.array([0.0, 3.0, 2.9, 0.0], dtype=np.float32)
    penalised = TokenSampler(Sampling(repeat_penalty=1.5))
    assert penalised.pick(logits, [1]) == 2
    exempt = TokenSampler(Sampling(repeat_penalty=1.5), exempt=frozenset({1}))
    assert exempt.pick(logits, [1]) == 1


def test_seeded_sampling_repeats_and_top_k_limits_the_choice() -> None:
    logits = np.linspace(0, 1, 50).astype(np.float32)
    hot = Sampling(temperature=1.0, top_k=3, seed=11)
    first = [TokenSampler(hot).pick(logits, []) for _ in range(5)]
    assert first == [TokenSampler(hot).pick(logits, []) for _ in range(5)]
    sampler = TokenSampler(hot)
    assert {sampler.pick(logits, []) for _ in range(200)} <= {47, 48, 49}
