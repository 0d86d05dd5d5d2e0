"""Pinned to the bundled model through the router: structured output and tool calls work."""

from __future__ import annotations

import pytest
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel

from openmux import ChatOpenMux
from openmux.local import BUNDLED_CHAT_MODEL_ID, INSTALL_HINT, local_chat_available
from openmux.local._structured import schema_problem

if not local_chat_available():
    pytest.skip(f"the bundled chat model is not installed: {INSTALL_HINT}", allow_module_level=True)

pytestmark = pytest.mark.usefixtures("local_runtime")


class City(BaseModel):
    name: str
    country: str


def get_weather(city: str) -> str:
    """The weather in a city."""
    return "sunny"


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> ChatOpenMux:
    monkeypatch.setenv("OPENMUX_OFFLINE", "1")
    return ChatOpenMux(model=f"local:{BUNDLED_CHAT_MODEL_ID}", max_tokens=48)


@pytest.mark.parametrize("method", ["function_calling", "json_schema", "json_mode"])
def test_structured_output_returns_the_object_offline(pinned: ChatOpenMux, method: str) -> None:
    structured = pinned.with_structured_output(City, method=method, include_raw=True)
    ask = "Name a large city and its country."
    if method == "json_mode":  # JSON mode sends no schema (as OpenAI's): the prompt names the keys
        ask += ' Reply with a JSON object with the keys "name" and "country".'
    result = structured.invoke(ask)
    assert result["parsing_error"] is None
    city = result["parsed"]
    assert isinstance(city, City)
    assert city.name and city.country


def test_tools_are_called_not_dropped(pinned: ChatOpenMux) -> None:
    weather = convert_to_openai_tool(get_weather)["function"]["parameters"]
    free = pinned.bind_tools([get_weather]).invoke("What is the weather in Paris?")
    for call in free.tool_calls:  # calling or answering is the model's judgement
        assert call["name"] == "get_weather" and schema_problem(call["args"], weather) is None
    assert free.tool_calls or str(free.content).strip()
    forced = pinned.bind_tools([get_weather], tool_choice="get_weather").invoke("Paris?")
    [call] = forced.tool_calls
    assert call["name"] == "get_weather" and schema_problem(call["args"], weather) is None
    assert forced.response_metadata["openmux"]["provider"] == "local"


def test_the_answer_says_which_runtime_served_it(pinned: ChatOpenMux, local_runtime: str) -> None:
    message = pinned.invoke("Say hello.")
    assert message.response_metadata["openmux"]["model"] == BUNDLED_CHAT_MODEL_ID
    assert message.response_metadata["runtime"] == local_runtime
