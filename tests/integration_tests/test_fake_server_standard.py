"""LangChain's standard integration suites, run against the fake provider server.

Real clients (`ChatOpenAI`, `ChatOllama`, `OpenAIEmbeddings`,
`OllamaEmbeddings`) talk to `openmux.testing.FakeProviderServer` over
loopback HTTP. Passing these suites is what shows that the fake speaks the
providers' wire formats well enough for real client code.
"""

from __future__ import annotations

import io
import struct
import wave
import zlib
from typing import Any

import httpx
import pytest
from langchain_ollama import ChatOllama, OllamaEmbeddings
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from langchain_tests.integration_tests import (
    ChatModelIntegrationTests,
    EmbeddingsIntegrationTests,
)
from langchain_tests.integration_tests import chat_models as standard_chat_tests

from openmux.testing import FakeProvider, FakeProviderServer

# langchain-openai shares one cached async HTTP client (and its keep-alive
# pool) between model instances; with a fresh event loop per test, pooled
# connections would belong to a closed loop. One loop for the module avoids it.
pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    # ...which pytest-asyncio also notes on every synchronous test of the suites.
    pytest.mark.filterwarnings("ignore:The test <Function:pytest.PytestWarning"),
]

PROVIDERS = {"std": dict(models=["m-1", "m-2"], embedding_models=["e-1", "e-2"])}


def _sample_png() -> bytes:
    """A valid 2x2 RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _sample_wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 800)
    return buffer.getvalue()


_SAMPLE_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 100 100]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


@pytest.fixture(autouse=True)
def _offline_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suites download sample media with `httpx.get`; serve local samples instead.

    Only `httpx.get` is replaced; the clients under test use their own HTTP clients.
    """

    def fake_get(url: str, *args: Any, **kwargs: Any) -> httpx.Response:
        if url.endswith(".pdf"):
            content = _SAMPLE_PDF
        elif url.endswith(".wav"):
            content = _sample_wav()
        else:
            content = _sample_png()
        return httpx.Response(200, content=content, request=httpx.Request("GET", url))

    monkeypatch.setattr(standard_chat_tests.httpx, "get", fake_get)


class _AgainstFake:
    """The client under test talks to the module's fake provider `std`."""

    fake: FakeProvider

    @pytest.fixture(autouse=True)
    def _point_at(self, server: FakeProviderServer) -> None:
        self.fake = server.providers["std"]


class _Multimodal(_AgainstFake):
    """Content kinds the fake accepts (it does not look inside them)."""

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def supports_image_urls(self) -> bool:
        return True

    @property
    def supports_image_tool_message(self) -> bool:
        return True

    @property
    def supports_pdf_inputs(self) -> bool:
        return True

    @property
    def supports_pdf_tool_message(self) -> bool:
        return True

    @property
    def supports_audio_inputs(self) -> bool:
        return True

    @property
    def supports_anthropic_inputs(self) -> bool:
        return True


class TestChatOpenAIAgainstFake(_Multimodal, ChatModelIntegrationTests):
    """OpenAI protocol: ChatOpenAI with its default structured output (json_schema)."""

    @property
    def chat_model_class(self) -> type[ChatOpenAI]:
        return ChatOpenAI

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "model": "m-1",
            "base_url": self.fake.base_url,
            "api_key": "sk-test",
            "stream_usage": True,
            "max_retries": 0,
        }

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "m-2"


class TestChatOpenAIOnOpenRouterAgainstFake(_Multimodal, ChatModelIntegrationTests):
    """OpenRouter protocol, structured output through forced tool calls."""

    @property
    def chat_model_class(self) -> type[ChatOpenAI]:
        return ChatOpenAI

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "model": "m-1",
            "base_url": self.fake.openrouter_base_url,
            "api_key": "sk-or-test",
            "max_retries": 0,
        }

    @property
    def structured_output_kwargs(self) -> dict[str, Any]:
        return {"method": "function_calling"}

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "m-2"


class TestChatOllamaAgainstFake(_Multimodal, ChatModelIntegrationTests):
    """Ollama native protocol (/api/chat NDJSON)."""

    @property
    def chat_model_class(self) -> type[ChatOllama]:
        return ChatOllama

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "m-1", "base_url": self.fake.ollama_base_url}

    # ChatOllama itself refuses these inputs before sending anything
    # ("Image data only supported through in-line base64 format.", "Blocks of
    # type file/audio not supported.", "Unsupported message content type" for
    # Anthropic thinking blocks), so their standard tests are skipped here.
    @property
    def supports_image_urls(self) -> bool:
        return False

    @property
    def supports_pdf_inputs(self) -> bool:
        return False

    @property
    def supports_pdf_tool_message(self) -> bool:
        return False

    @property
    def supports_audio_inputs(self) -> bool:
        return False

    @property
    def supports_anthropic_inputs(self) -> bool:
        return False

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "m-2"


class TestOpenAIEmbeddingsAgainstFake(_AgainstFake, EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[OpenAIEmbeddings]:
        return OpenAIEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {
            "model": "e-1",
            "base_url": self.fake.base_url,
            "api_key": "sk-test",
            "check_embedding_ctx_length": False,
            "max_retries": 0,
        }


class TestOllamaEmbeddingsAgainstFake(_AgainstFake, EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[OllamaEmbeddings]:
        return OllamaEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "e-1", "base_url": self.fake.ollama_base_url}
