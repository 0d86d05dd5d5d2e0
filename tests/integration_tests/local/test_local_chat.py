"""The bundled local chat model, run for real (no fakes) on each runtime."""

from __future__ import annotations

import asyncio
import threading
from typing import Literal

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel

from openmux.local import (
    BUNDLED_CHAT_MODEL_ID,
    INSTALL_HINT,
    ChatLocalGGUF,
    LocalContextLengthError,
    LocalGenerationTimeout,
    LocalToolsUnsupported,
    local_chat_available,
)
from openmux.local._structured import schema_problem

if not local_chat_available():
    pytest.skip(f"the bundled chat model is not installed: {INSTALL_HINT}", allow_module_level=True)

pytestmark = pytest.mark.usefixtures("local_runtime")

QUESTION = "Name three colours of the rainbow."


@pytest.fixture
def model() -> ChatLocalGGUF:
    return ChatLocalGGUF(temperature=0, max_tokens=48)


def test_local_chat_is_available() -> None:
    assert local_chat_available()


def test_invoke_answers_with_usage_and_metadata(model: ChatLocalGGUF) -> None:
    result = model.invoke(QUESTION)
    assert isinstance(result, AIMessage)
    assert isinstance(result.content, str)
    assert result.content.strip()
    assert "<|im_end|>" not in result.content
    assert result.response_metadata["model_name"] == BUNDLED_CHAT_MODEL_ID
    assert result.response_metadata["finish_reason"] in ("stop", "length")
    usage = result.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] > 5
    assert 0 < usage["output_tokens"] <= 48
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_system_message_and_history_are_used(model: ChatLocalGGUF) -> None:
    short = model.invoke([HumanMessage("Hi")])
    longer = model.invoke(
        [
            SystemMessage("You are a terse assistant."),
            HumanMessage("Hi"),
            AIMessage("Hello."),
            HumanMessage("Say hi again."),
        ]
    )
    assert short.usage_metadata and longer.usage_metadata
    assert longer.usage_metadata["input_tokens"] > short.usage_metadata["input_tokens"]


def test_stream_yields_several_chunks_and_usage_once(model: ChatLocalGGUF) -> None:
    chunks = list(model.stream(QUESTION))
    assert len(chunks) > 2
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert [c.chunk_position for c in chunks].count("last") == 1
    assert chunks[-1].chunk_position == "last"
    assert sum(1 for c in chunks if c.usage_metadata) == 1
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    assert isinstance(full.content, str) and full.content.strip()
    assert full.response_metadata["model_name"] == BUNDLED_CHAT_MODEL_ID
    assert full.usage_metadata and full.usage_metadata["output_tokens"] > 0


def test_abandoned_stream_releases_the_model(model: ChatLocalGGUF) -> None:
    stream = model.stream("Tell me a long story.")
    next(stream)
    assert model.load().lock.locked()  # generation holds the model while it streams
    stream.close()
    assert not model.load().lock.locked()
    assert model.invoke(QUESTION).content


async def test_abandoned_astream_releases_the_model(model: ChatLocalGGUF) -> None:
    stream = model.astream("Tell me a long story.")
    await stream.__anext__()
    await stream.aclose()
    # LangChain's outer stream leaves the inner one to asyncio's async-generator
    # finaliser, which closes it on a later turn of the event loop.
    lock = model.load().lock
    for _ in range(3000):  # a hang guard, not a speed check
        if not lock.locked():
            break
        await asyncio.sleep(0.01)
    assert not lock.locked()
    assert (await model.ainvoke(QUESTION)).content


def test_greedy_invoke_and_stream_agree(model: ChatLocalGGUF) -> None:
    invoked = model.invoke(QUESTION).content
    streamed = "".join(str(c.content) for c in model.stream(QUESTION))
    assert streamed == invoked


async def test_ainvoke_and_astream(model: ChatLocalGGUF) -> None:
    result = await model.ainvoke(QUESTION)
    assert isinstance(result.content, str) and result.content.strip()
    chunks = [chunk async for chunk in model.astream(QUESTION)]
    assert len(chunks) > 2
    assert chunks[-1].chunk_position == "last"
    assert chunks[-1].usage_metadata is not None


def test_stop_sequence_cuts_the_answer(model: ChatLocalGGUF) -> None:
    full = str(model.invoke(QUESTION).content)
    words = full.split()
    assert len(words) >= 4, full
    stop_word = words[3]
    cut = model.invoke(QUESTION, stop=[stop_word])
    assert cut.content == full[: full.index(stop_word)]
    assert stop_word not in str(cut.content)
    assert cut.response_metadata["finish_reason"] == "stop"

    by_field = ChatLocalGGUF(temperature=0, max_tokens=48, stop=[stop_word]).invoke(QUESTION)
    assert by_field.content == cut.content


def test_stop_sequence_while_streaming(model: ChatLocalGGUF) -> None:
    full = str(model.invoke(QUESTION).content)
    stop_word = full.split()[3]
    streamed = "".join(str(c.content) for c in model.stream(QUESTION, stop=[stop_word]))
    assert streamed == full[: full.index(stop_word)]


def test_max_tokens_limits_the_answer() -> None:
    result = ChatLocalGGUF(temperature=0, max_tokens=4).invoke("Tell me a long story.")
    assert result.usage_metadata and result.usage_metadata["output_tokens"] == 4
    assert result.response_metadata["finish_reason"] == "length"


def test_max_tokens_per_call_overrides_the_field(model: ChatLocalGGUF) -> None:
    result = model.invoke("Tell me a long story.", max_tokens=3)
    assert result.usage_metadata and result.usage_metadata["output_tokens"] == 3


def test_model_is_loaded_once_and_shared() -> None:
    first = ChatLocalGGUF(temperature=0).load()
    second = ChatLocalGGUF(temperature=0.7).load()
    assert first is second
    assert first.n_threads >= 1
    assert first.n_ctx >= 512
    assert "<|im_start|>" in first.chat_template  # read from the GGUF metadata


def test_concurrent_calls_are_serialised_safely(model: ChatLocalGGUF) -> None:
    expected = model.invoke(QUESTION).content
    results: list[object] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            results.append(model.invoke(QUESTION).content)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert results == [expected] * 3


async def test_concurrent_async_calls(model: ChatLocalGGUF) -> None:
    answers = await asyncio.gather(*(model.ainvoke(QUESTION) for _ in range(3)))
    assert len({a.content for a in answers}) == 1


def test_prompt_longer_than_the_context_is_a_clear_error() -> None:
    small = ChatLocalGGUF(n_ctx=512, max_tokens=8)
    with pytest.raises(LocalContextLengthError, match="context window is 512 tokens"):
        small.invoke("word " * 2000)


def test_timeout_stops_a_generation_that_runs_too_long() -> None:
    # The deadline has passed before the first token: the check after it must fire.
    slow = ChatLocalGGUF(max_tokens=32, timeout=1e-9)
    with pytest.raises(LocalGenerationTimeout, match="timeout"):
        slow.invoke("Tell me a long story.")
    assert not slow.load().lock.locked()


def test_get_num_tokens_counts_with_the_model_tokenizer(model: ChatLocalGGUF) -> None:
    assert 1 <= model.get_num_tokens("hello world") <= 4


def test_seeded_sampling_is_reproducible() -> None:
    hot = ChatLocalGGUF(temperature=0.9, seed=7, max_tokens=24)
    assert hot.invoke(QUESTION).content == hot.invoke(QUESTION).content


class City(BaseModel):
    name: str
    country: str


def test_structured_output_fits_the_schema(model: ChatLocalGGUF) -> None:
    structured = model.with_structured_output(City)
    city = structured.invoke("Name a large city and its country.")
    assert isinstance(city, City)
    assert city.name and city.country


def test_structured_output_with_raw(model: ChatLocalGGUF) -> None:
    structured = model.with_structured_output(City, include_raw=True)
    result = structured.invoke("Name a large city and its country.")
    assert isinstance(result, dict)
    assert isinstance(result["raw"], AIMessage)
    assert isinstance(result["parsed"], City)
    assert result["parsing_error"] is None


def test_json_mode_without_schema_returns_an_object(model: ChatLocalGGUF) -> None:
    result = model.with_structured_output(method="json_mode").invoke(
        "Describe a cat as a JSON object."
    )
    assert isinstance(result, dict)


def test_function_calling_method_is_served_by_the_schema_grammar(model: ChatLocalGGUF) -> None:
    structured = model.with_structured_output(City, method="function_calling")
    assert isinstance(structured.invoke("Name a large city and its country."), City)


def test_unknown_method_is_refused(model: ChatLocalGGUF) -> None:
    with pytest.raises(ValueError, match="unknown method"):
        model.with_structured_output(City, method="xml")  # type: ignore[arg-type]


def test_default_settings_answer_a_short_factual_question_in_english() -> None:
    answer = str(ChatLocalGGUF().invoke("What is the capital of France?").content)
    assert "Paris" in answer
    assert "L'" not in answer and len(answer.split()) <= 20, answer


def test_a_system_prompt_is_followed_and_kept_in_english() -> None:
    answer = str(
        ChatLocalGGUF()
        .invoke(
            [
                SystemMessage("Answer in one short sentence."),
                HumanMessage("What is the capital of Germany?"),
            ]
        )
        .content
    )
    assert "Berlin" in answer and len(answer.split()) <= 15, answer


def get_weather(city: str) -> str:
    """The current weather in a city."""
    return "sunny"


def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


TOOLS = {tool.__name__: convert_to_openai_tool(tool) for tool in (get_weather, add)}


def _fits_its_tool(call: ToolCall) -> bool:
    schema = TOOLS[call["name"]]["function"]["parameters"]
    return schema_problem(call["args"], schema) is None and bool(call["id"])


def test_with_a_free_choice_the_model_answers_or_calls_a_bound_tool(
    model: ChatLocalGGUF,
) -> None:
    bound = model.bind_tools([get_weather, add])
    for question in ("What is the weather in Paris?", "Write a haiku about spring."):
        message = bound.invoke(question)
        assert isinstance(message, AIMessage)
        if message.tool_calls:  # which of the two it does is the model's judgement
            [call] = message.tool_calls
            assert _fits_its_tool(call), call
            assert message.content == ""
        else:
            assert str(message.content).strip()
        assert message.usage_metadata and message.usage_metadata["output_tokens"] > 0


def test_required_calls_one_of_the_tools_and_streams_it_whole(model: ChatLocalGGUF) -> None:
    bound = model.bind_tools([get_weather, add], tool_choice="required")
    chunks = list(bound.stream("Hello there."))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert isinstance(merged, AIMessageChunk)
    [call] = merged.tool_calls
    assert _fits_its_tool(call), call


def test_tool_choice_none_answers_in_text(model: ChatLocalGGUF) -> None:
    message = model.bind_tools([get_weather], tool_choice="none").invoke("Say hello.")
    assert message.tool_calls == [] and str(message.content).strip()


def test_after_the_tool_result_the_model_answers_from_it(model: ChatLocalGGUF) -> None:
    call = {"name": "add", "args": {"a": 2, "b": 3}, "id": "call_1", "type": "tool_call"}
    message = model.bind_tools([get_weather, add]).invoke(
        [
            HumanMessage("What is 2 plus 3?"),
            AIMessage("", tool_calls=[call]),
            ToolMessage("5", tool_call_id="call_1"),
        ]
    )
    assert message.tool_calls == [] and str(message.content).strip()


class Paint(BaseModel):
    """Paint a wall."""

    colour: Literal["red", "green", "blue"]
    glossy: bool


def test_enum_and_boolean_arguments_are_one_of_their_values(model: ChatLocalGGUF) -> None:
    message = model.bind_tools([Paint], tool_choice="Paint").invoke("Paint it red and shiny.")
    [call] = message.tool_calls
    assert Paint.model_validate(call["args"])


def test_what_the_local_model_cannot_call_is_refused_at_bind_time(model: ChatLocalGGUF) -> None:
    with pytest.raises(LocalToolsUnsupported, match="cannot call a 'web_search' tool"):
        model.bind_tools([get_weather, {"type": "web_search"}])
    with pytest.raises(ValueError, match="tool_choice names 'City'"):
        model.bind_tools([get_weather], tool_choice="City")


def test_a_forced_tool_is_called_with_arguments_that_fit(model: ChatLocalGGUF) -> None:
    message = model.bind_tools([City], tool_choice="City").invoke(
        "Name a large city and its country."
    )
    assert isinstance(message, AIMessage)
    [call] = message.tool_calls
    assert call["name"] == "City"
    assert City.model_validate(call["args"])
