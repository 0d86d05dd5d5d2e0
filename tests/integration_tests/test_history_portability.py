"""A conversation's history, as apps build it, sent to whichever protocol answers next."""

from __future__ import annotations

import re
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    FunctionMessage,
    HumanMessage,
    RemoveMessage,
    ToolMessage,
)

from openmux import ChatOpenMux, NoProviderAvailable, TaskClassification, TaskType
from openmux.testing import FakeProviderServer
from tests.helpers import provider_config

PROVIDERS = {
    "openai": dict(models=["m"], reply="answered"),
    "ollama": dict(models=["m"], reply="answered"),
}


def _as_chat(_: Any) -> TaskClassification:
    return TaskClassification(TaskType.CHAT, 0.9, [], "fixed for the test")


def _ask(server: FakeProviderServer, protocol: str, history: list[BaseMessage]) -> Any:
    """The answer of one fake provider speaking `protocol`, and that provider."""
    provider = server.providers[protocol]
    llm = ChatOpenMux(config=provider_config(provider, protocol=protocol), classifier=_as_chat)
    return llm.invoke(history), provider


REASONING_BLOCKS = [
    {"type": "thinking", "thinking": "let me see", "signature": "c2ln"},
    {"type": "redacted_thinking", "data": "b3BhcXVl"},
    {"type": "reasoning", "reasoning": "let me see", "id": "rs_1"},
]


@pytest.mark.parametrize("protocol", ["openai", "ollama"])
@pytest.mark.parametrize("block", REASONING_BLOCKS, ids=lambda b: b["type"])
def test_an_earlier_answers_reasoning_is_not_sent(
    server: FakeProviderServer, protocol: str, block: dict[str, Any]
) -> None:
    # Another model's answer (Anthropic's thinking, LangChain v1's reasoning) carried on:
    # ChatOllama raised on it here and the router benched a healthy Ollama model.
    history = [
        HumanMessage("hi"),
        AIMessage(content=[block, {"type": "text", "text": "hello"}]),
        HumanMessage("and then?"),
    ]
    answer, provider = _ask(server, protocol, history)
    assert answer.content == "answered"
    assert [a["status"] for a in answer.response_metadata["openmux"]["attempts"]] == ["ok"]
    sent = provider.requests[-1].json["messages"][1]
    assert "let me see" not in str(sent) and "b3BhcXVl" not in str(sent)
    assert "hello" in str(sent["content"])


FUNCTION_TURN = [
    HumanMessage("hi"),
    FunctionMessage(content="42", name="lookup"),
    HumanMessage("so?"),
]


@pytest.mark.parametrize("streaming", [False, True])
def test_a_message_the_client_cannot_convert_benches_nothing(
    server: FakeProviderServer, streaming: bool
) -> None:
    # ChatOllama has no form for a FunctionMessage and raises before sending a byte: the
    # router counted that as the model's bad answer, retried it and benched the model.
    provider = server.providers["ollama"]
    llm = ChatOpenMux(config=provider_config(provider, protocol="ollama"), classifier=_as_chat)
    with pytest.raises(NoProviderAvailable) as caught:
        if streaming:
            list(llm.stream(FUNCTION_TURN))
        else:
            llm.invoke(FUNCTION_TURN)
    assert [a["status"] for a in caught.value.attempts] == ["http_4xx"]
    assert "not sent: TypeError" in str(caught.value.attempts[0]["error"])
    assert [r for r in provider.requests if r.endpoint == "chat"] == []
    answer = llm.invoke("hi")
    assert [a["status"] for a in answer.response_metadata["openmux"]["attempts"]] == ["ok"]


def test_a_message_one_client_cannot_convert_goes_to_one_that_can(
    server: FakeProviderServer,
) -> None:
    ollama, openai = server.providers["ollama"], server.providers["openai"]
    config = provider_config(ollama, protocol="ollama")
    config["providers"].update(provider_config(openai)["providers"])
    config["router"]["providers"] = ["ollama", "openai"]
    answer = ChatOpenMux(config=config, classifier=_as_chat).invoke(FUNCTION_TURN)
    attempts = answer.response_metadata["openmux"]["attempts"]
    assert [(a["provider"], a["status"]) for a in attempts] == [
        ("ollama", "http_4xx"),
        ("openai", "ok"),
    ]
    assert openai.last_request is not None
    assert openai.last_request.json["messages"][1]["role"] == "function"


@pytest.mark.parametrize("protocol", ["openai", "ollama"])
def test_a_remove_message_is_refused_before_any_provider(
    server: FakeProviderServer, protocol: str
) -> None:
    # A graph state's edit, not a turn: the local model read it as an empty user turn and
    # the HTTP clients raised "Got unknown type content='' ..." at the provider's cost.
    provider = server.providers[protocol]
    llm = ChatOpenMux(config=provider_config(provider, protocol=protocol), classifier=_as_chat)
    history = [HumanMessage("hi"), RemoveMessage(id="m-1"), HumanMessage("so?")]
    with pytest.raises(ValueError, match=r"message 1 is a RemoveMessage"):
        llm.invoke(history)
    assert [r for r in provider.requests if r.endpoint == "chat"] == []


def test_an_invalid_tool_calls_id_is_rewritten_with_its_answer_for_mistral(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A call whose arguments were not JSON, answered with an error: Mistral got its id as
    # it was ("call_9", refused: 9 alphanumerics only) and its answer's id rewritten.
    monkeypatch.setenv("MISTRAL_API_KEY", "test-key")
    provider = server.providers["openai"]
    config = {
        "router": {"providers": ["mistral"]},
        "providers": {"mistral": {"base_url": provider.base_url, "models": ["m"]}},
    }
    broken = {
        "name": "f",
        "args": "{bad",
        "id": "call_9",
        "error": "bad",
        "type": "invalid_tool_call",
    }
    history = [
        HumanMessage("hi"),
        AIMessage(content="", invalid_tool_calls=[broken]),
        ToolMessage("error: the arguments are not JSON", tool_call_id="call_9", status="error"),
        HumanMessage("try again"),
    ]
    ChatOpenMux(config=config, classifier=_as_chat).invoke(history)
    call, answer = provider.requests[-1].json["messages"][1:3]
    sent_id = call["tool_calls"][0]["id"]
    assert re.fullmatch(r"[A-Za-z0-9]{9}", sent_id)
    assert answer["tool_call_id"] == sent_id


def test_a_block_the_local_model_cannot_read_benches_it_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Another provider's server-side tool run, carried in its answer: the local model said
    # it reads text only, and the router counted that as its bad answer and benched it.
    monkeypatch.setenv("OPENMUX_OFFLINE", "1")
    llm = ChatOpenMux(max_tokens=4, classifier=_as_chat)
    searched = {"type": "server_tool_call", "id": "srv_1", "name": "web_search", "args": {}}
    history = [
        HumanMessage("news?"),
        AIMessage(content=[searched, {"type": "text", "text": "Nothing new."}]),
        HumanMessage("thanks"),
    ]
    with pytest.raises(ValueError, match="'server_tool_call' content block"):
        llm.invoke(history)
    answer = llm.invoke("hi")
    assert [a["status"] for a in answer.response_metadata["openmux"]["attempts"]] == ["ok"]


def test_a_developer_message_reaches_an_openai_compatible_server_as_system(
    server: FakeProviderServer,
) -> None:
    # LangChain keeps OpenAI's "developer" role on the SystemMessage, and ChatOpenAI sent
    # it on to servers that know only "system".
    provider = server.providers["openai"]
    llm = ChatOpenMux(config=provider_config(provider), classifier=_as_chat)
    llm.invoke([{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "hi"}])
    sent = provider.requests[-1].json["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
