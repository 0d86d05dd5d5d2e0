"""Pinned to the bundled model through the router: structured output works, tools never vanish."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from openmux import ChatOpenMux
from openmux.local import BUNDLED_CHAT_MODEL_ID, INSTALL_HINT, local_chat_available

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


def test_structured_output_returns_the_object_offline(pinned: ChatOpenMux) -> None:
    city = pinned.with_structured_output(City).invoke("Name a large city and its country.")
    assert isinstance(city, City)
    assert city.name and city.country


def test_a_free_tool_choice_is_refused_with_the_reason(pinned: ChatOpenMux) -> None:
    with pytest.raises(Exception, match="cannot call tools") as caught:
        pinned.bind_tools([get_weather]).invoke("What is the weather in Paris?")
    assert "openmux init" in str(caught.value)  # names what would serve the request


def test_the_answer_says_which_runtime_served_it(pinned: ChatOpenMux, local_runtime: str) -> None:
    message = pinned.invoke("Say hello.")
    assert message.response_metadata["openmux"]["model"] == BUNDLED_CHAT_MODEL_ID
    assert message.response_metadata["runtime"] == local_runtime
