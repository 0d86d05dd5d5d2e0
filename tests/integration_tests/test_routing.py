"""Routing behaviour end to end against loopback fake providers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run

from openmux import (
    ChatOpenMux,
    NoProviderAvailable,
    Orchestrator,
    StreamInterrupted,
    TaskClassification,
    TaskType,
    UnsupportedTask,
)
from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_config

PROVIDERS = {
    "alpha": dict(models=["shared", "alpha-only"], reply="from alpha"),
    "beta": dict(models=["shared", "beta-only"], reply="from beta"),
}


def _as_chat(_: Any) -> TaskClassification:
    # Routing, not classification, is under test here; the classifier has its own tests.
    return TaskClassification(TaskType.CHAT, 0.9, [], "fixed for the test")


def _llm(server: FakeProviderServer, **kwargs: Any) -> ChatOpenMux:
    kwargs.setdefault("classifier", _as_chat)
    return ChatOpenMux(
        config=provider_config(server.providers["alpha"], server.providers["beta"]), **kwargs
    )


def _route(message: AIMessage) -> tuple[str, str]:
    meta = message.response_metadata["openmux"]
    return meta["provider"], meta["model"]


def test_metadata_contract(server: FakeProviderServer) -> None:
    message = _llm(server).invoke("Explain recursion in one sentence")
    meta = message.response_metadata["openmux"]
    assert set(meta) == {
        "task",
        "confidence",
        "provider",
        "model",
        "reason",
        "latency_ms",
        "offline",
        "cached",
        "attempts",
    }
    assert meta["task"] == "chat" and meta["confidence"] == 0.9
    assert (meta["provider"], meta["model"]) == ("alpha", "shared")
    assert meta["reason"] and meta["offline"] is False
    assert set(meta["attempts"][0]) == {
        "provider",
        "model",
        "status",
        "error",
        "latency_ms",
        "hedged",
    }
    assert message.usage_metadata and message.usage_metadata["total_tokens"] > 0


def test_model_and_provider_overrides(server: FakeProviderServer) -> None:
    llm = _llm(server)
    assert _route(llm.invoke("hi", model="beta-only")) == ("beta", "beta-only")
    assert _route(llm.invoke("hi", model="beta:shared")) == ("beta", "shared")
    assert _route(llm.invoke("hi", provider="beta")) == ("beta", "shared")
    assert _route(_llm(server, model="alpha:alpha-only").invoke("hi")) == ("alpha", "alpha-only")


def test_unknown_model_is_still_tried_at_each_provider(server: FakeProviderServer) -> None:
    message = _llm(server).invoke("hi", model="brand-new-model")
    assert _route(message) == ("alpha", "brand-new-model")
    assert server.providers["alpha"].requests[-1].json["model"] == "brand-new-model"


def test_task_override_and_custom_classifier(server: FakeProviderServer) -> None:
    message = _llm(server).invoke("hello there", task="code")
    assert message.response_metadata["openmux"]["task"] == "code"
    assert message.response_metadata["openmux"]["confidence"] == 1.0

    def always_code(_: Any) -> TaskClassification:
        return TaskClassification(TaskType.CODE, 0.9, [], "custom")

    meta = _llm(server, classifier=always_code).invoke("hello").response_metadata["openmux"]
    assert (meta["task"], meta["confidence"]) == ("code", 0.9)


def test_non_text_output_raises_unsupported_task(server: FakeProviderServer) -> None:
    llm = _llm(server)
    with pytest.raises(UnsupportedTask, match="image") as caught:
        llm.invoke("Draw a cat wearing a space suit", task="image")
    assert caught.value.task == "image"
    with pytest.raises(UnsupportedTask, match="tts"):
        llm.invoke("Read this aloud", task="tts")
    assert server.providers["alpha"].hits == 0


def test_no_provider_lists_attempts_and_hints(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.status(500)
    server.providers["beta"].fault = Fault.status(401)
    with pytest.raises(NoProviderAvailable) as caught:
        _llm(server).invoke("hi")
    error = caught.value
    # A fresh provider's first 500 is retried once; its other model is not.
    assert [(a["provider"], a["model"], a["status"]) for a in error.attempts][:4] == [
        ("alpha", "shared", "http_5xx"),
        ("alpha", "shared", "http_5xx"),
        ("alpha", "alpha-only", "http_5xx"),
        ("beta", "shared", "auth"),
    ]
    # Later rounds retry the transient failures only: the refused key is not tried again.
    assert all(a["provider"] == "alpha" for a in error.attempts[4:])
    assert len(error.attempts) <= 8
    assert any("beta" in hint for hint in error.hints)
    assert "alpha:shared: http_5xx" in str(error)


def test_auth_failure_skips_the_rest_of_that_provider(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.status(401)
    message = _llm(server).invoke("hi")
    assert _route(message) == ("beta", "shared")
    assert server.providers["alpha"].hits == 1  # not once per model


def test_no_key_and_no_server_explains_what_to_set() -> None:
    without_local = {"providers": {"local": {"enabled": False}}}
    with pytest.raises(NoProviderAvailable) as caught:
        ChatOpenMux(config=without_local).invoke("hi")
    hints = " ".join(caught.value.hints)
    assert "OPENROUTER_API_KEY" in hints and "GROQ_API_KEY" in hints and "ollama serve" in hints


def test_paid_model_is_never_requested(server: FakeProviderServer) -> None:
    config = provider_config(server.providers["alpha"], server.providers["beta"])
    config["providers"]["beta"]["free"] = False
    server.providers["alpha"].fault = Fault.status(500)
    with pytest.raises(NoProviderAvailable):
        ChatOpenMux(config=config).invoke("hi")
    with pytest.raises(NoProviderAvailable) as caught:
        ChatOpenMux(config=config).invoke("hi", model="beta:shared")
    assert caught.value.attempts[-1]["status"] == "not_free"
    assert server.providers["beta"].hits == 0
    message = ChatOpenMux(config=config, free_only=False).invoke("hi")
    assert _route(message)[0] == "beta"


def test_tools_route_to_tool_capable_models(monkeypatch: pytest.MonkeyPatch) -> None:
    from openmux.config import load_settings
    from openmux.routing import Router, RouteRequest, plan

    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test-key-000")
    router = Router(load_settings({"router": {"providers": ["openrouter"]}}))
    router.network.online = lambda urls: True  # type: ignore[method-assign]  # selection only
    plain = plan(router, RouteRequest(messages=[HumanMessage("hi")]))
    tools = plan(
        router,
        RouteRequest(messages=[HumanMessage("hi")], call_kwargs={"tools": [{"type": "function"}]}),
    )
    image = plan(
        router,
        RouteRequest(
            messages=[HumanMessage([{"type": "image_url", "image_url": {"url": "data:,"}}])],
            task="chat",
        ),
    )
    gemma = "google/gemma-3-27b-it:free"
    assert gemma in [c.model.id for c in plain.candidates]
    assert gemma not in [c.model.id for c in tools.candidates]
    assert all(c.model.vision for c in image.candidates) and image.candidates
    assert all(c.model.id.endswith(":free") for c in plain.candidates)
    assert "tool-capable" in tools.candidates[0].reason


def test_bind_tools_and_tool_loop(server: FakeProviderServer) -> None:
    @tool
    def magic_function(input: int) -> int:
        """Apply a magic function to an input."""
        return input + 2

    llm = _llm(server).bind_tools([magic_function])
    question = HumanMessage("What is the value of magic_function(3)? Use the tool.")
    first = llm.invoke([question])
    assert first.tool_calls and first.tool_calls[0]["name"] == "magic_function"
    body = server.providers["alpha"].requests[-1].json
    assert body["tools"][0]["function"]["name"] == "magic_function"
    result = magic_function.invoke(first.tool_calls[0])
    final = llm.invoke([question, first, result])
    assert "5" in final.text


def test_sticky_provider_and_tool_call_ids_rewritten_for_mistral(
    server: FakeProviderServer,
) -> None:
    config = {
        "router": {"providers": ["mistral", "groq"]},
        "providers": {
            "mistral": {"base_url": server.providers["alpha"].base_url, "models": ["shared"]},
            "groq": {"base_url": server.providers["beta"].base_url, "models": ["shared"]},
        },
    }
    earlier = AIMessage(
        content="",
        tool_calls=[{"name": "lookup", "args": {"q": "x"}, "id": "call_abcdefghijklmnopqrstuvwx"}],
        response_metadata={"openmux": {"provider": "groq"}},
    )
    history = [
        HumanMessage("look x up"),
        earlier,
        ToolMessage("42", tool_call_id="call_abcdefghijklmnopqrstuvwx"),
    ]
    llm = ChatOpenMux(config=config, classifier=_as_chat)
    assert _route(llm.invoke(history))[0] == "groq"  # sticky: the provider of the tool calls

    server.providers["beta"].fault = Fault.status(503)
    assert _route(llm.invoke(history))[0] == "mistral"
    sent = server.providers["alpha"].requests[-1].json["messages"]
    call_id = sent[1]["tool_calls"][0]["id"]
    assert re.fullmatch(r"[A-Za-z0-9]{9}", call_id)
    assert sent[2]["tool_call_id"] == call_id


def test_stream_interrupted_after_first_chunk_carries_partial_text(
    server: FakeProviderServer,
) -> None:
    server.providers["alpha"].fault = Fault.mid_stream_error(after_chunks=2)
    llm = _llm(server)
    received = ""
    with pytest.raises(StreamInterrupted) as caught:
        for chunk in llm.stream("tell me something long"):
            received += chunk.text
    assert received and caught.value.partial_text == received
    assert caught.value.attempts[-1]["status"] == "stream_interrupted"
    assert server.providers["beta"].hits == 0  # never spliced with another answer


async def test_astream_interrupted(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.mid_stream_error(after_chunks=2)
    with pytest.raises(StreamInterrupted):
        async for _ in _llm(server).astream("tell me something long"):
            pass


class _Collector(BaseTracer):
    def __init__(self) -> None:
        super().__init__()
        self.roots: list[Run] = []

    def _persist_run(self, run: Run) -> None:
        self.roots.append(run)


class _Counter(BaseCallbackHandler):
    def __init__(self) -> None:
        self.chat_starts = 0
        self.tokens = 0

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.chat_starts += 1

    def on_llm_new_token(self, *args: Any, **kwargs: Any) -> None:
        self.tokens += 1


def test_provider_call_is_a_child_run_for_tracers(server: FakeProviderServer) -> None:
    tracer, counter = _Collector(), _Counter()
    _llm(server).invoke("hi", config={"callbacks": [tracer, counter]})
    root = tracer.roots[0]
    assert root.run_type == "llm" and root.name == "ChatOpenMux"

    def names(run: Run) -> list[str]:
        return [run.name] + [n for child in run.child_runs for n in names(child)]

    all_names = names(root)
    assert {"classify", "alpha:shared", "CompatibleChatOpenAI"} <= set(all_names)
    assert counter.chat_starts == 1  # plain handlers see one chat model run


def test_streaming_tokens_reported_once(server: FakeProviderServer) -> None:
    counter = _Counter()
    chunks = list(_llm(server).stream("hi", config={"callbacks": [counter]}))
    content_chunks = [c for c in chunks if c.content]
    assert counter.tokens >= len(content_chunks) and counter.tokens <= len(chunks)


def _without_ids(message: AIMessage) -> dict[str, Any]:
    meta = {k: v for k, v in message.response_metadata.items() if k != "id"}
    meta["openmux"] = {k: v for k, v in meta["openmux"].items() if k != "latency_ms"}
    for attempt in meta["openmux"]["attempts"]:
        attempt.pop("latency_ms", None)
    return {"content": message.content, "meta": meta, "usage": message.usage_metadata}


async def test_unobserved_runs_answer_as_observed_ones(server: FakeProviderServer) -> None:
    # Without handlers ChatOpenMux and the provider call skip BaseChatModel's bookkeeping;
    # the message must not differ from the one a traced run returns.
    llm = _llm(server)
    quiet, watched = llm.invoke("hi"), llm.invoke("hi", config={"callbacks": [_Counter()]})
    assert _without_ids(quiet) == _without_ids(watched)
    assert quiet.id and quiet.response_metadata["model_name"] == "shared"
    aquiet = await llm.ainvoke("hi")
    awatched = await llm.ainvoke("hi", config={"callbacks": [_Counter()]})
    assert _without_ids(aquiet) == _without_ids(awatched) == _without_ids(quiet)


def test_max_tokens_is_sent_as_max_tokens(server: FakeProviderServer) -> None:
    # ChatOpenAI renames it max_completion_tokens, which Mistral rejects with a 422.
    _llm(server, max_tokens=5).invoke("hi")
    body = server.providers["alpha"].requests[-1].json
    assert body["max_tokens"] == 5 and "max_completion_tokens" not in body


def test_unobserved_invoke_still_uses_the_llm_cache(server: FakeProviderServer) -> None:
    from langchain_core.caches import InMemoryCache
    from langchain_core.globals import set_llm_cache

    alpha = server.providers["alpha"]
    set_llm_cache(InMemoryCache())
    try:
        llm = _llm(server)
        before = alpha.hits
        first, second = llm.invoke("cache me"), llm.invoke("cache me")
        assert first.content == second.content
        assert alpha.hits - before == 1
    finally:
        set_llm_cache(None)


def test_lcel_chain_batch_and_abatch(server: FakeProviderServer) -> None:
    chain = (
        ChatPromptTemplate.from_messages([("human", "Say {word}")])
        | _llm(server)
        | StrOutputParser()
    )
    assert "from alpha" in chain.invoke({"word": "hi"})
    assert all("from alpha" in out for out in chain.batch([{"word": "a"}, {"word": "b"}]))


async def test_abatch(server: FakeProviderServer) -> None:
    results = await _llm(server).abatch(["a", "b", "c"])
    assert all(_route(r) == ("alpha", "shared") for r in results)


def test_orchestrator_contract(server: FakeProviderServer) -> None:
    orchestrator = Orchestrator(
        config=provider_config(server.providers["alpha"], server.providers["beta"]),
        classifier=_as_chat,
    )
    result = orchestrator.process("Write a Python function that reverses a string")
    for key in (
        "response",
        "model",
        "provider",
        "task",
        "confidence",
        "reasoning",
        "latency_ms",
        "attempts",
        "usage",
    ):
        assert key in result
    assert result["response"].startswith("from alpha")
    assert result["reasoning"] == result["metadata"]["reason"]
    assert orchestrator.process("hello", task_type=TaskType.CODE)["task"] == "code"


def test_orchestrator_process_multi(server: FakeProviderServer) -> None:
    orchestrator = Orchestrator(
        config=provider_config(server.providers["alpha"], server.providers["beta"]),
        classifier=_as_chat,
    )
    merged = orchestrator.process_multi("hello", num_models=2, combination_method="merge")
    assert [r["model"] for r in merged["responses"]] == ["alpha:shared", "alpha:alpha-only"]
    assert "[alpha:shared]" in merged["response"]
    summary = orchestrator.process_multi("hello", num_models=2, combination_method="summarize")
    assert summary["combination_method"] == "summarize" and summary["response"]


async def test_orchestrator_async(server: FakeProviderServer) -> None:
    orchestrator = Orchestrator(
        config=provider_config(server.providers["alpha"]), classifier=_as_chat
    )
    assert (await orchestrator.aprocess("hi"))["provider"] == "alpha"


@pytest.mark.parametrize("streaming", [False, True])
def test_sampling_options_reach_ollama_as_options(
    server: FakeProviderServer, streaming: bool
) -> None:
    # langchain-ollama hands unknown keyword arguments to Client.chat (a TypeError) and
    # ignores `stop` once `options` is given: all of them travel inside `options`.
    provider = server.add_provider("ol", models=["m"], reply="one two three four five six")
    llm = ChatOpenMux(
        config=provider_config(provider, protocol="ollama"),
        classifier=_as_chat,
        temperature=0.2,
        max_tokens=4,
        stop=["three"],
    )
    if streaming:
        text = "".join(str(chunk.content) for chunk in llm.stream("hi"))
    else:
        text = str(llm.invoke("hi").content)
    assert text.strip() == "one two"
    assert provider.requests[-1].json["options"] == {
        "temperature": 0.2,
        "num_predict": 4,
        "stop": ["three"],
    }
