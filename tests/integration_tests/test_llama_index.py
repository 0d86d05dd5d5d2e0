"""LlamaIndex classes against loopback fake providers (an index, a query engine, an agent),
and an agent offline on the pinned bundled model."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("llama_index.core", reason='needs: pip install "openmux[llama-index]"')

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.tools import FunctionTool

from openmux.integrations.llama_index import OpenMuxEmbedding, OpenMuxLLM
from openmux.local import BUNDLED_CHAT_MODEL_ID, INSTALL_HINT, local_chat_available
from openmux.local._runtime import RUNTIME_ENV
from openmux.testing import FakeProviderServer
from tests.helpers import provider_config

DOCUMENTS = [
    "The bakery on Elm Street sells sourdough bread and croissants.",
    "The library opens at nine and closes at six on weekdays.",
    "The harbour ferry leaves every forty minutes for the island.",
]


def _answer_from_context(request: dict[str, Any]) -> str:
    prompt = " ".join(str(m.get("content")) for m in request["messages"])
    seen = [text for text in DOCUMENTS if text in prompt]
    return f"From the context: {seen[0]}" if seen else "No context was given."


PROVIDERS = {
    "fake": dict(models=["chat-1"], embedding_models=["embed-1"], reply=_answer_from_context)
}


@pytest.fixture
def config(server: FakeProviderServer) -> dict[str, Any]:
    return provider_config(server.providers["fake"])


def test_index_and_query_engine_route_through_openmux(config: dict[str, Any]) -> None:
    index = VectorStoreIndex.from_documents(
        [Document(text=text) for text in DOCUMENTS], embed_model=OpenMuxEmbedding(config=config)
    )
    engine = index.as_query_engine(llm=OpenMuxLLM(config=config, task="chat"), similarity_top_k=1)
    # The fake's embeddings are hashes: the query that equals a document finds that one.
    response = engine.query(DOCUMENTS[2])
    assert [n.node.get_content() for n in response.source_nodes] == [DOCUMENTS[2]]
    assert str(response) == f"From the context: {DOCUMENTS[2]}"


def test_chat_complete_and_stream_carry_the_routing(config: dict[str, Any]) -> None:
    llm = OpenMuxLLM(config=config, task="chat")
    assert llm.metadata.is_function_calling_model and llm.metadata.is_chat_model
    reply = llm.chat([ChatMessage(role=MessageRole.USER, content="hi")])
    assert reply.message.role == MessageRole.ASSISTANT
    assert reply.raw["openmux"]["provider"] == "fake"
    assert llm.complete("hi").text == "No context was given."
    chunks = list(llm.stream_complete("hi"))
    assert chunks[-1].text == "No context was given."
    assert "".join(c.delta or "" for c in chunks) == "No context was given."
    assert chunks[-1].raw["openmux"]["model"] == "chat-1"


def test_async_chat_and_stream(config: dict[str, Any]) -> None:
    llm = OpenMuxLLM(config=config, task="chat")

    async def run() -> tuple[str, str]:
        answer = await llm.acomplete("hi")
        streamed = ""
        async for response in await llm.astream_chat(
            [ChatMessage(role=MessageRole.USER, content="hi")]
        ):
            streamed = response.message.content or ""
        return answer.text, streamed

    assert asyncio.run(run()) == ("No context was given.", "No context was given.")


def test_function_agent_calls_the_tool_and_answers(config: dict[str, Any]) -> None:
    calls: list[tuple[int, int]] = []

    def multiply(a: int, b: int) -> int:
        """Multiply two whole numbers."""
        calls.append((a, b))
        return a * b

    tool = FunctionTool.from_defaults(multiply)
    llm = OpenMuxLLM(config=config, task="chat")
    selection = llm.predict_and_call([tool], "What is 6 times 7?")
    assert len(calls) == 1 and str(selection) == str(calls[0][0] * calls[0][1])

    async def run_agent() -> Any:
        agent = FunctionAgent(tools=[tool], llm=llm, system_prompt="Use the tools.")
        return await agent.run("What is 6 times 7?")

    result = asyncio.run(run_agent())
    assert len(calls) == 2
    assert str(calls[1][0] * calls[1][1]) in str(result)


def test_pictures_and_recordings_in_a_message_reach_the_model(server: FakeProviderServer) -> None:
    from llama_index.core.base.llms.types import AudioBlock, ImageBlock, TextBlock

    from openmux.testing._media import png, wav

    eyes = server.add_provider("eyes", models=["chat-1", "gpt-4o-mini"])
    eyes.transcript = "the meeting starts at noon"
    table = {"protocol": "openai", "base_url": eyes.base_url, "free": True}
    config = {
        "router": {"providers": ["eyes"]},
        "providers": {"eyes": {**table, "transcription_models": ["whisper-1"]}},
    }
    llm = OpenMuxLLM(config=config)
    picture = ChatMessage(
        role=MessageRole.USER,
        blocks=[TextBlock(text="What is in this picture?"), ImageBlock(image=png(8, 8))],
    )
    # As ChatOpenMux does with the same picture: a vision model is shown it.
    assert llm.chat([picture]).raw["openmux"]["model"] == "gpt-4o-mini"
    [_, sent] = eyes.requests[-1].json["messages"][0]["content"]
    assert sent["type"] == "image_url" and sent["image_url"]["url"].startswith("data:image/png")
    recording = ChatMessage(
        role=MessageRole.USER,
        blocks=[TextBlock(text="Transcribe this recording"), AudioBlock(audio=wav(1.0))],
    )
    assert llm.chat([recording]).message.content == "the meeting starts at noon"


def test_a_drawing_or_speech_comes_back_as_its_block(server: FakeProviderServer) -> None:
    from llama_index.core.base.llms.types import AudioBlock, ImageBlock

    artist = server.add_provider("artist", models=["chat-1"])
    table = {"protocol": "openai", "base_url": artist.base_url, "free": True}
    media = {"image_models": ["img-1"], "speech_models": ["tts-1"]}
    config = {"router": {"providers": ["artist"]}, "providers": {"artist": {**table, **media}}}
    llm = OpenMuxLLM(config=config)
    drawing = llm.chat([ChatMessage(role=MessageRole.USER, content="Draw a cat in a space suit")])
    [image] = [b for b in drawing.message.blocks if isinstance(b, ImageBlock)]
    assert image.image_mimetype == "image/png"
    assert image.resolve_image().read().startswith(b"\x89PNG")
    assert drawing.raw["openmux"]["task"] == "image"
    speech = llm.chat([ChatMessage(role=MessageRole.USER, content="Hello")], task="tts")
    [sound] = [b for b in speech.message.blocks if isinstance(b, AudioBlock)]
    assert sound.format == "wav" and sound.resolve_audio().read()[8:12] == b"WAVE"


@pytest.mark.skipif(not local_chat_available(), reason=f"no bundled chat model: {INSTALL_HINT}")
def test_function_agent_answers_offline_with_the_pinned_local_model(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bundled model has no tool training: it chooses between answering and a call
    (which is its judgement, not tested), and a call it makes fits the tool's schema.
    Run on the numpy runtime, the local extra's own; tests/integration_tests/local
    covers tool calls on llama.cpp as well."""
    monkeypatch.setenv(RUNTIME_ENV, "numpy")
    calls: list[tuple[int, int]] = []

    def add(a: int, b: int) -> int:
        """Add two whole numbers."""
        calls.append((a, b))
        return a + b

    tool = FunctionTool.from_defaults(add)
    llm = OpenMuxLLM(model=f"local:{BUNDLED_CHAT_MODEL_ID}", offline=True, max_tokens=32)
    forced = llm.chat_with_tools([tool], "What is 2 plus 3?", tool_required=True)
    [selection] = llm.get_tool_calls_from_response(forced)
    assert selection.tool_name == "add"
    assert {type(v) for v in selection.tool_kwargs.values()} == {int}
    assert forced.raw is not None and forced.raw["openmux"]["provider"] == "local"

    async def run_agent() -> Any:
        agent = FunctionAgent(tools=[tool], llm=llm, system_prompt="Use the tools.")
        return await agent.run("What is 2 plus 3?")

    result = asyncio.run(run_agent())
    assert str(result).strip()  # an answer, after at most one round of calls
    assert all(isinstance(a, int) and isinstance(b, int) for a, b in calls)
    assert len(calls) <= 1
