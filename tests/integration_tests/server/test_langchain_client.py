"""LangChain's own ChatOpenAI and OpenAIEmbeddings, pointed at `openmux serve`."""

from __future__ import annotations

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import BaseModel, SecretStr

from tests.integration_tests.server.conftest import ALPHA_REPLY, FAKE_PROVIDERS

PROVIDERS = FAKE_PROVIDERS


def chat_openai(base_url: str, model: str = "openmux/auto") -> ChatOpenAI:
    return ChatOpenAI(base_url=base_url, api_key=SecretStr("unused"), model=model, max_retries=0)


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"18 C in {city}"


class Weather(BaseModel):
    city: str
    celsius: int


def test_invoke_and_stream(base_url: str) -> None:
    llm = chat_openai(base_url)
    message = llm.invoke("Explain recursion in one sentence")
    assert message.content == ALPHA_REPLY
    assert message.response_metadata["model_name"] == "alpha:shared"
    assert message.usage_metadata and message.usage_metadata["total_tokens"] > 0
    chunks = list(chat_openai(base_url).stream("Explain recursion"))
    assert "".join(str(c.content) for c in chunks) == ALPHA_REPLY


async def test_ainvoke_and_astream(base_url: str) -> None:
    llm = chat_openai(base_url, model="beta:shared")
    assert (await llm.ainvoke("hi")).content.startswith("Hello from beta")
    text = "".join([str(c.content) async for c in llm.astream("hi")])
    assert text.startswith("Hello from beta")


def test_bind_tools(base_url: str) -> None:
    message = chat_openai(base_url).bind_tools([get_weather]).invoke("Weather in Paris?")
    assert message.tool_calls[0]["name"] == "get_weather"
    assert "city" in message.tool_calls[0]["args"]


def test_with_structured_output(base_url: str) -> None:
    structured = chat_openai(base_url).with_structured_output(Weather, method="json_schema")
    assert isinstance(structured.invoke("Weather in Paris as JSON"), Weather)


def test_embeddings(base_url: str) -> None:
    embeddings = OpenAIEmbeddings(
        base_url=base_url,
        api_key=SecretStr("unused"),
        model="openmux/auto",
        check_embedding_ctx_length=False,
    )
    vectors = embeddings.embed_documents(["one", "two"])
    assert len(vectors) == 2 and len(vectors[0]) == 16
