"""Real LangChain and Ollama clients against FakeProviderServer: replies and faults.

Uses the `fake_provider_server` fixture of openmux.testing.pytest_plugin.
"""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import httpx
import ollama
import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_ollama import ChatOllama, OllamaEmbeddings, OllamaLLM
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import BaseModel

from openmux.testing import FakeProvider, FakeProviderServer, Fault


def _png() -> str:
    """Base64 of a valid 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff"))
        + chunk(b"IEND", b"")
    )
    return base64.b64encode(raw).decode()


class Joke(BaseModel):
    setup: str
    punchline: str


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.fixture
def good(fake_provider_server: FakeProviderServer) -> FakeProvider:
    return fake_provider_server.add_provider(
        "good", models=["m-1", "m-2"], embedding_models=["e-1"]
    )


def _chat_openai(p: FakeProvider, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(base_url=p.base_url, api_key="sk-test", model="m-1", max_retries=0, **kwargs)


# ---------------------------------------------------------------- ChatOpenAI
def test_chat_openai_reply_usage_and_metadata(good: FakeProvider) -> None:
    result = _chat_openai(good).invoke("Hello")
    assert result.content == "Hello from good! You said: Hello"
    assert result.response_metadata["model_name"] == "m-1"
    assert result.response_metadata["finish_reason"] == "stop"
    assert result.usage_metadata is not None
    assert result.usage_metadata["output_tokens"] > 0
    assert good.hits == 1
    assert good.requests[0].headers["authorization"] == "Bearer sk-test"


def test_chat_openai_stop_and_max_tokens(good: FakeProvider) -> None:
    good.reply = "alpha beta gamma delta"
    assert _chat_openai(good).invoke("x", stop=["gamma"]).content == "alpha beta "
    limited = _chat_openai(good, max_tokens=2).invoke("x")
    assert limited.content == "alpha beta"
    assert limited.response_metadata["finish_reason"] == "length"
    assert good.requests[-1].json["max_completion_tokens"] == 2


def test_chat_openai_image_input(good: FakeProvider) -> None:
    message = HumanMessage(
        content=[
            {"type": "text", "text": "Describe this."},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{_png()}"}},
        ]
    )
    result = _chat_openai(good).invoke([message])
    assert "I see 1 image." in str(result.content)
    parts = good.requests[0].json["messages"][0]["content"]
    assert parts[1]["type"] == "image_url"


def test_chat_openai_tool_round_trip(good: FakeProvider) -> None:
    llm = _chat_openai(good).bind_tools([add])
    question = HumanMessage("What is 2 + 40?")
    call = llm.invoke([question])
    assert isinstance(call, AIMessage)
    assert call.tool_calls[0]["name"] == "add"
    assert call.tool_calls[0]["args"] == {"a": 2, "b": 40}
    tool_message = ToolMessage("42", tool_call_id=call.tool_calls[0]["id"])
    answer = llm.invoke([question, call, tool_message])
    assert answer.tool_calls == []
    assert "42" in str(answer.content)


def test_chat_openai_structured_output_both_methods(good: FakeProvider) -> None:
    for method in ("json_schema", "function_calling", "json_mode"):
        chat = _chat_openai(good).with_structured_output(Joke, method=method)  # type: ignore[arg-type]
        result = chat.invoke("Tell me a joke about 'cats' as JSON with 'setup' and 'punchline'")
        assert isinstance(result, Joke)


def test_chat_openai_rate_limit_exposes_retry_after(good: FakeProvider) -> None:
    good.fault = Fault.status(429, retry_after=2)
    with pytest.raises(openai.RateLimitError) as info:
        _chat_openai(good).invoke("x")
    assert info.value.response.headers["retry-after"] == "2"


def test_chat_openai_error_body_raises(good: FakeProvider) -> None:
    good.fault = Fault.error_body(code=429, message="Rate limit exceeded")
    with pytest.raises(ValueError, match="Rate limit exceeded"):
        _chat_openai(good).invoke("x")


def test_chat_openai_garbage_raises(good: FakeProvider) -> None:
    good.fault = Fault.garbage()
    with pytest.raises(Exception, match="502 Bad Gateway"):
        _chat_openai(good).invoke("x")


def test_chat_openai_hang_times_out(good: FakeProvider) -> None:
    good.fault = Fault.hang()
    with pytest.raises(openai.APITimeoutError):
        _chat_openai(good, timeout=0.3).invoke("x")


def test_chat_openai_mid_stream_error_raises_while_streaming(good: FakeProvider) -> None:
    good.reply = "one two three four five"
    good.fault = Fault.mid_stream_error(after_chunks=2)
    seen: list[str] = []
    with pytest.raises(openai.APIError):
        for chunk in _chat_openai(good).stream("x"):
            seen.append(str(chunk.content))
    assert "".join(seen) == "one two"


def test_chat_openai_openrouter_keepalive_stream(good: FakeProvider) -> None:
    good.fault = Fault.slow_first_token(seconds=0.3, keepalive=True)
    llm = ChatOpenAI(base_url=good.openrouter_base_url, api_key="sk-or", model="m-1", max_retries=0)
    text = "".join(str(c.content) for c in llm.stream("Hi"))
    assert text == "Hello from good! You said: Hi"
    assert llm.invoke("Hi").content == "Hello from good! You said: Hi"


def test_chat_openai_flaky_with_retries(good: FakeProvider) -> None:
    good.fault = Fault.flaky(rate=0.5, seed=3)
    answers = 0
    for _ in range(20):
        try:
            _chat_openai(good).invoke("x")
            answers += 1
        except openai.InternalServerError:
            pass
    assert 0 < answers < 20
    assert good.hits == 20


def test_openai_embeddings(good: FakeProvider) -> None:
    emb = OpenAIEmbeddings(
        base_url=good.base_url,
        api_key="sk-test",
        model="e-1",
        check_embedding_ctx_length=False,
        max_retries=0,
    )
    first, second = emb.embed_documents(["foo", "bar"])
    assert emb.embed_query("foo") == pytest.approx(first, abs=1e-6)
    assert first != pytest.approx(second, abs=1e-6)
    assert good.hits == 2


# ---------------------------------------------------------------- ChatOllama
def _chat_ollama(p: FakeProvider, **kwargs: Any) -> ChatOllama:
    return ChatOllama(base_url=p.ollama_base_url, model="m-1", **kwargs)


def test_chat_ollama_reply_stream_and_usage(good: FakeProvider) -> None:
    llm = _chat_ollama(good)
    result = llm.invoke("Hello")
    assert result.content == "Hello from good! You said: Hello"
    assert result.usage_metadata is not None and result.usage_metadata["output_tokens"] > 0
    chunks = list(llm.stream("Hello"))
    assert len(chunks) > 2
    assert "".join(str(c.content) for c in chunks) == result.content
    assert good.hits_by_path["/api/chat"] == 2


def test_chat_ollama_options_and_images(good: FakeProvider) -> None:
    good.reply = "alpha beta gamma"
    assert _chat_ollama(good).invoke("x", stop=["beta"]).content == "alpha "
    limited = _chat_ollama(good, num_predict=1).invoke("x")
    assert limited.content == "alpha"
    assert limited.response_metadata["done_reason"] == "length"
    good.reply = None
    message = HumanMessage(
        content=[
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": f"data:image/png;base64,{_png()}"},
        ]
    )
    assert "I see 1 image." in str(_chat_ollama(good).invoke([message]).content)
    assert good.requests[-1].json["messages"][0]["images"]


def test_chat_ollama_tools_and_structured_output(good: FakeProvider) -> None:
    call = _chat_ollama(good).bind_tools([add]).invoke("What is 5 + 6?")
    assert call.tool_calls[0]["name"] == "add"
    assert call.tool_calls[0]["args"] == {"a": 5, "b": 6}
    raw_call = good.requests[-1]
    assert raw_call.json["tools"][0]["function"]["name"] == "add"
    joke = _chat_ollama(good).with_structured_output(Joke).invoke("A joke about 'dogs'")
    assert isinstance(joke, Joke)
    assert joke.setup == "dogs"


def test_chat_ollama_faults(good: FakeProvider) -> None:
    good.fault = Fault.status(500, message="model crashed")
    with pytest.raises(ollama.ResponseError) as info:
        _chat_ollama(good).invoke("x")
    assert info.value.status_code == 500
    assert "model crashed" in str(info.value)
    good.reply = "one two three four"
    good.fault = Fault.mid_stream_error(after_chunks=2)
    seen: list[str] = []
    with pytest.raises(ollama.ResponseError):
        for chunk in _chat_ollama(good).stream("x"):
            seen.append(str(chunk.content))
    assert "".join(seen) == "one two"


def test_ollama_client_listing_embed_and_root(good: FakeProvider) -> None:
    client = ollama.Client(host=good.ollama_base_url)
    names = [m.model for m in client.list().models]
    assert names == ["m-1:latest", "m-2:latest", "e-1:latest"]
    assert client.show("m-1").capabilities == ["completion", "tools"]
    embedded = client.embed(model="e-1", input=["foo", "bar"])
    assert len(embedded.embeddings) == 2 and len(embedded.embeddings[0]) == 16
    root = httpx.get(good.ollama_base_url)
    assert (root.status_code, root.text) == (200, "Ollama is running")
    assert httpx.get(f"{good.ollama_base_url}/api/version").json()["version"]
    emb = OllamaEmbeddings(base_url=good.ollama_base_url, model="e-1")
    assert emb.embed_query("foo") == pytest.approx(embedded.embeddings[0], abs=1e-9)
    # Same text and model: the same vector whichever protocol asks.
    openai_vector = httpx.post(
        f"{good.base_url}/embeddings", json={"model": "e-1", "input": "foo"}
    ).json()["data"][0]["embedding"]
    assert openai_vector == pytest.approx(embedded.embeddings[0], abs=1e-9)


def test_ollama_generate_endpoint(good: FakeProvider) -> None:
    llm = OllamaLLM(base_url=good.ollama_base_url, model="m-2")
    assert llm.invoke("Hi there") == "Hello from good! You said: Hi there"
    assert "".join(llm.stream("Hi")) == "Hello from good! You said: Hi"
    assert good.hits_by_path == {"/api/generate": 2}
    assert good.requests[0].json["model"] == "m-2"
