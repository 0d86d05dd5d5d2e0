"""What LangChain users expect of a chat model: usage on streams, the traced model name,
and no quiet shortfall when a fan-out gets fewer models than it asked for."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import (
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    trim_messages,
)
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run
from pydantic import BaseModel

from openmux import ChatOpenMux, Orchestrator, TaskClassification, TaskType
from openmux.testing import FakeProviderServer
from tests.helpers import provider_config

PROVIDERS = {
    "alpha": {"models": ["alpha-1"], "reply": "a streamed answer in several words"},
}


def _as_chat(_: Any) -> TaskClassification:
    return TaskClassification(TaskType.CHAT, 0.9, [], "fixed for the test")


def _llm(server: FakeProviderServer, **kwargs: Any) -> ChatOpenMux:
    config = provider_config(*server.providers.values())
    return ChatOpenMux(config=config, classifier=_as_chat, **kwargs)


def _merged(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    return merged


# --------------------------------------------------------------------------- usage


def test_the_last_streamed_chunk_carries_the_usage(server: FakeProviderServer) -> None:
    llm = _llm(server)
    invoked = llm.invoke("hello")
    chunks = list(llm.stream("hello"))
    assert [c.usage_metadata is not None for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert invoked.usage_metadata and invoked.usage_metadata["total_tokens"] > 0
    assert _merged(chunks).usage_metadata == invoked.usage_metadata


def test_async_and_fanout_streams_carry_the_usage_once(server: FakeProviderServer) -> None:
    async def collect(llm: ChatOpenMux) -> list[AIMessageChunk]:
        return [chunk async for chunk in llm.astream("hello")]

    for llm in (_llm(server), _llm(server, fanout=1, combiner="concat")):
        chunks = asyncio.run(collect(llm))
        assert [c.usage_metadata is not None for c in chunks][-1] is True
        assert sum(c.usage_metadata is not None for c in chunks) == 1
        assert _merged(chunks).usage_metadata == llm.invoke("hello").usage_metadata


# --------------------------------------------------------------------------- ls_model_name


class _Runs(BaseTracer):
    """Keeps every finished root run, as a tracer that sends them somewhere would."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[Run] = []

    def _persist_run(self, run: Run) -> None:
        self.runs.append(run)


class _StartMetadata(BaseCallbackHandler):
    """The metadata a chat model run starts with (its `ls_*` parameters among them)."""

    def __init__(self) -> None:
        self.started: list[dict[str, Any]] = []

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.started.append(dict(metadata or {}))


def _ls(metadata: dict[str, Any]) -> tuple[str, str]:
    return metadata["ls_provider"], metadata["ls_model_name"]


def test_the_traced_run_names_the_model_that_answered(server: FakeProviderServer) -> None:
    llm = _llm(server)
    for call in (llm.invoke, lambda text, config: _merged(list(llm.stream(text, config=config)))):
        runs, starts = _Runs(), _StartMetadata()
        call("hello", config={"callbacks": [runs, starts]})
        assert _ls(starts.started[0]) == ("openmux", "auto")  # unknown before the call
        assert _ls(runs.runs[0].extra["metadata"]) == ("alpha", "alpha-1")


def test_a_pinned_model_is_named_before_the_call(server: FakeProviderServer) -> None:
    starts = _StartMetadata()
    _llm(server, model="alpha:alpha-1").invoke("hello", config={"callbacks": [starts]})
    assert _ls(starts.started[0]) == ("alpha", "alpha-1")
    starts = _StartMetadata()
    _llm(server).invoke("hello", model="alpha-1", config={"callbacks": [starts]})
    assert _ls(starts.started[0]) == ("openmux", "alpha-1")


# --------------------------------------------------------------------------- fan-out


def test_a_fanout_short_of_models_says_so(server: FakeProviderServer) -> None:
    with pytest.warns(UserWarning, match=r"fanout=3 .* only 1 distinct model can answer") as said:
        message = _llm(server, fanout=3, combiner="concat").invoke("hello")
    assert said[0].filename == __file__  # the warning points at the caller's line
    meta = message.response_metadata["openmux"]
    assert (meta["fanout_requested"], meta["fanout_used"]) == (3, 1)

    orchestrator = Orchestrator(config=provider_config(*server.providers.values()))
    with pytest.warns(UserWarning, match="only 1 distinct model"):
        result = orchestrator.process_multi("hello", num_models=2)
    assert (result["fanout_requested"], result["fanout_used"]) == (2, 1)


# --------------------------------------------------------------------------- tools


def _get_weather(city: str) -> str:
    """Get the weather in a city."""
    return "sunny"


def test_bind_tools_takes_strict_as_chat_openai_does(server: FakeProviderServer) -> None:
    message = _llm(server).bind_tools([_get_weather], strict=True).invoke("weather in 'Paris'")
    assert message.tool_calls[0]["args"] == {"city": "Paris"}
    sent = server.providers["alpha"].last_request
    assert sent is not None
    function = sent.json["tools"][0]["function"]
    assert function["strict"] is True
    assert function["parameters"]["additionalProperties"] is False
    assert "strict" not in sent.json


class _City(BaseModel):
    """A city and its country."""

    name: str
    country: str


@pytest.mark.parametrize("include_raw", [False, True])
def test_structured_output_by_tool_call_keeps_strict(
    server: FakeProviderServer, include_raw: bool
) -> None:
    structured = _llm(server).with_structured_output(
        _City, method="function_calling", strict=True, include_raw=include_raw
    )
    answer = structured.invoke("the city 'Paris' in 'France'")
    parsed = answer["parsed"] if include_raw else answer
    assert isinstance(parsed, _City)
    sent = server.providers["alpha"].last_request
    assert sent is not None
    assert sent.json["tools"][0]["function"]["strict"] is True


# --------------------------------------------------------------------------- token counts


def test_token_counts_are_estimated_without_a_tokenizer(server: FakeProviderServer) -> None:
    # BaseChatModel's count needs transformers and downloads GPT-2's tokenizer files.
    llm = _llm(server)
    assert llm.get_num_tokens("") == 0
    assert llm.get_num_tokens("hi") == 1
    assert llm.get_num_tokens("a sentence of about eight tokens, give or take") > 5
    history = [SystemMessage("be brief"), HumanMessage("first question"), HumanMessage("again")]
    assert llm.get_num_tokens_from_messages(history) > 0
    trimmed = trim_messages(history, max_tokens=6, token_counter=llm, strategy="last")
    assert trimmed == history[-1:]
    counted = ChatOpenMux(config=llm.config, custom_get_token_ids=lambda text: [1, 2, 3])
    assert counted.get_num_tokens("anything") == 3
