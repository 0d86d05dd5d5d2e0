"""LlamaIndex classes that route through OpenMux (the `llama-index` extra).

```python
from llama_index.core import Settings, VectorStoreIndex, Document
from openmux.integrations.llama_index import OpenMuxEmbedding, OpenMuxLLM

Settings.llm = OpenMuxLLM()
Settings.embed_model = OpenMuxEmbedding()
index = VectorStoreIndex.from_documents([Document(text="...")])
index.as_query_engine().query("...")
```

Native classes, not LlamaIndex's LangChain bridge (which imports `ChatOpenAI` from
langchain-community, gone in langchain 1.x). They delegate every call to `ChatOpenMux`
and `OpenMuxEmbeddings`, so routing, failover, free-only and the routing metadata are
the same: each response carries `raw["openmux"]`, the `response_metadata["openmux"]`
of the answer.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

try:
    from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
    from llama_index.core.base.llms.types import (
        AudioBlock,
        ChatMessage,
        ChatResponse,
        ChatResponseAsyncGen,
        ChatResponseGen,
        CompletionResponse,
        CompletionResponseAsyncGen,
        CompletionResponseGen,
        ImageBlock,
        LLMMetadata,
        MessageRole,
        TextBlock,
        ToolCallBlock,
    )
    from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
    from llama_index.core.llms.function_calling import FunctionCallingLLM
    from llama_index.core.llms.llm import ToolSelection
except ImportError as exc:  # pragma: no cover - depends on the extra
    raise ImportError(
        'openmux.integrations.llama_index needs LlamaIndex: pip install "openmux[llama-index]"'
    ) from exc
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from pydantic import Field, PrivateAttr

from openmux.chat_models import ChatOpenMux
from openmux.embeddings import OpenMuxEmbeddings
from openmux.media import Media, media_of
from openmux.providers import sniff_mime

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

# The router picks the model, so these describe what OpenMux asks of every candidate.
_CONTEXT_WINDOW = 8192
_NUM_OUTPUT = 1024

# ChatOpenMux's fields a user may set through OpenMuxLLM(**kwargs).
_ROUTER_FIELDS = (
    "model",
    "provider",
    "task",
    "providers",
    "strategy",
    "free_only",
    "offline",
    "timeout",
    "temperature",
    "max_tokens",
    "config",
    "fanout",
    "combiner",
)


class OpenMuxLLM(FunctionCallingLLM):
    """A LlamaIndex function-calling LLM answered by the best free model OpenMux finds."""

    model: str | None = Field(default=None, description='pin a model: "ID" or "PROVIDER:ID"')
    provider: str | None = Field(default=None, description="pin a provider id")
    task: str | None = Field(default=None, description="skip classification: chat, code, ...")
    providers: list[str] | None = Field(default=None, description="allowed providers, in order")
    strategy: str | None = Field(default=None, description="best | ordered")
    free_only: bool | None = Field(default=None)
    offline: bool | None = Field(default=None)
    timeout: float | None = Field(default=None, description="total seconds per provider call")
    temperature: float | None = Field(default=None)
    max_tokens: int | None = Field(default=None)
    config: dict[str, Any] | None = Field(default=None, description="openmux.toml overrides")
    fanout: int | list[str] | None = Field(default=None)
    combiner: str | None = Field(default=None)
    context_window: int = Field(default=_CONTEXT_WINDOW)

    _chat: ChatOpenMux = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        options = {name: getattr(self, name) for name in _ROUTER_FIELDS}
        self._chat = ChatOpenMux(**{k: v for k, v in options.items() if v is not None})

    @classmethod
    def class_name(cls) -> str:
        return "OpenMuxLLM"

    @property
    def chat_model(self) -> ChatOpenMux:
        """The LangChain model every call goes through."""
        return self._chat

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.max_tokens or _NUM_OUTPUT,
            is_chat_model=True,
            is_function_calling_model=True,
            model_name=self.model or "openmux/auto",
        )

    # -- chat -------------------------------------------------------------------------------

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        runnable, call = self._runnable(kwargs)
        return _chat_response(runnable.invoke(to_langchain(messages), **call))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        runnable, call = self._runnable(kwargs)
        return _chat_response(await runnable.ainvoke(to_langchain(messages), **call))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        runnable, call = self._runnable(kwargs)
        chunks = runnable.stream(to_langchain(messages), **call)

        def responses() -> ChatResponseGen:
            merged: AIMessageChunk | None = None
            for chunk in chunks:
                merged = chunk if merged is None else merged + chunk
                yield _chat_response(merged, delta=chunk.text)

        return responses()

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        runnable, call = self._runnable(kwargs)
        chunks = runnable.astream(to_langchain(messages), **call)

        async def responses() -> ChatResponseAsyncGen:
            merged: AIMessageChunk | None = None
            async for chunk in chunks:
                merged = chunk if merged is None else merged + chunk
                yield _chat_response(merged, delta=chunk.text)

        return responses()

    # -- completion ---------------------------------------------------------------------------

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return _completion(
            self.chat([ChatMessage(role=MessageRole.USER, content=prompt)], **kwargs)
        )

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        message = ChatMessage(role=MessageRole.USER, content=prompt)
        return _completion(await self.achat([message], **kwargs))

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        responses = self.stream_chat([ChatMessage(role=MessageRole.USER, content=prompt)], **kwargs)
        return (_completion(response) for response in responses)

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        message = ChatMessage(role=MessageRole.USER, content=prompt)
        responses = await self.astream_chat([message], **kwargs)

        async def completions() -> CompletionResponseAsyncGen:
            async for response in responses:
                yield _completion(response)

        return completions()

    # -- tools ----------------------------------------------------------------------------------

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            messages.append(ChatMessage(role=MessageRole.USER, content=user_msg))
        elif user_msg is not None:
            messages.append(user_msg)
        specs = [tool.metadata.to_openai_tool(skip_length_check=True) for tool in tools]
        choice = kwargs.pop("tool_choice", None) or ("required" if tool_required else None)
        return {"messages": messages, "tools": specs, "tool_choice": choice, **kwargs}

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        if not allow_parallel_tool_calls:
            blocks = response.message.blocks
            calls = [b for b in blocks if isinstance(b, ToolCallBlock)]
            if len(calls) > 1:
                response.message.blocks = [
                    b for b in blocks if not isinstance(b, ToolCallBlock)
                ] + calls[:1]
        return response

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        calls = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
        if not calls and error_on_no_tool_call:
            raise ValueError(f"Expected at least one tool call, got: {response.message.content!r}")
        return [
            ToolSelection(
                tool_id=call.tool_call_id or call.tool_name,
                tool_name=call.tool_name,
                tool_kwargs=_arguments(call.tool_kwargs),
            )
            for call in calls
        ]

    def _runnable(self, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """ChatOpenMux, with tools bound when the call has any, and the per-call options."""
        call = dict(kwargs)
        tools = call.pop("tools", None)
        choice = call.pop("tool_choice", None)
        call.pop("formatted", None)
        if tools:
            return self._chat.bind_tools(tools, tool_choice=choice), call
        return self._chat, call


def to_langchain(messages: Sequence[ChatMessage]) -> list[BaseMessage]:
    """LlamaIndex chat messages as LangChain messages (tool calls and results included)."""
    converted: list[BaseMessage] = []
    for message in messages:
        text = message.content or ""
        role = message.role
        if role in (MessageRole.SYSTEM, MessageRole.DEVELOPER):
            converted.append(SystemMessage(text))
        elif role in (MessageRole.TOOL, MessageRole.FUNCTION):
            call_id = message.additional_kwargs.get("tool_call_id", "")
            converted.append(ToolMessage(text, tool_call_id=str(call_id)))
        elif role in (MessageRole.ASSISTANT, MessageRole.MODEL, MessageRole.CHATBOT):
            calls = [
                {
                    "id": block.tool_call_id or block.tool_name,
                    "name": block.tool_name,
                    "args": _arguments(block.tool_kwargs),
                }
                for block in message.blocks
                if isinstance(block, ToolCallBlock)
            ]
            converted.append(AIMessage(text, tool_calls=calls))
        else:
            converted.append(HumanMessage(_user_content(message)))
    return converted


def _user_content(message: ChatMessage) -> str | list[str | dict[str, Any]]:
    """A user turn's text, with its pictures and recordings as standard content blocks
    (so a picture goes to a vision model and a recording to speech-to-text, as through
    ChatOpenMux)."""
    if all(isinstance(block, TextBlock) for block in message.blocks):
        return message.content or ""
    parts: list[str | dict[str, Any]] = []
    for block in message.blocks:
        if isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            mime = block.image_mimetype or "image/png"
            parts.append(_media_block("image", mime, block.url, block.image, block.resolve_image))
        elif isinstance(block, AudioBlock):
            mime = f"audio/{block.format or 'wav'}"
            parts.append(_media_block("audio", mime, block.url, block.audio, block.resolve_audio))
    return parts


def _media_block(
    kind: str, declared: str, url: Any, inline: object, resolve: Any
) -> dict[str, Any]:
    if url is not None and inline is None:  # left for the model to fetch, not fetched here
        return {"type": kind, "url": str(url)}
    data = resolve().read()
    mime = sniff_mime(data, declared)  # the bytes' own format, where they show one
    return {"type": kind, "base64": base64.b64encode(data).decode("ascii"), "mime_type": mime}


def _arguments(value: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value or "{}")
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _chat_response(message: AIMessage | AIMessageChunk, delta: str | None = None) -> ChatResponse:
    blocks: list[Any] = [TextBlock(text=message.text)]
    blocks += [
        ToolCallBlock(tool_call_id=call.get("id"), tool_name=call["name"], tool_kwargs=call["args"])
        for call in message.tool_calls
        if call.get("name")
    ]
    blocks += [_llama_media(media) for media in media_of(message)]
    routing = message.response_metadata.get("openmux")
    return ChatResponse(
        message=ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks),
        raw={"openmux": routing} if routing else None,
        delta=delta,
        additional_kwargs={"usage": dict(message.usage_metadata or {})},
    )


def _llama_media(media: Media) -> ImageBlock | AudioBlock:
    """An image or speech answer as LlamaIndex's block: its text alone is empty."""
    if media.mime_type.startswith("image/"):
        return ImageBlock(image=media.data, image_mimetype=media.mime_type)
    return AudioBlock(audio=media.data, format=media.suffix.lstrip("."))


def _completion(response: ChatResponse) -> CompletionResponse:
    return CompletionResponse(
        text=response.message.content or "",
        raw=response.raw,
        delta=response.delta,
        additional_kwargs=response.additional_kwargs,
    )


class OpenMuxEmbedding(BaseEmbedding):
    """A LlamaIndex embedding model served by OpenMux's routing (`OpenMuxEmbeddings`)."""

    model: str | None = Field(default=None, description='pin a model: "ID" or "PROVIDER:ID"')
    provider: str | None = Field(default=None, description="pin a provider id")
    providers: list[str] | None = Field(default=None, description="allowed providers, in order")
    offline: bool | None = Field(default=None)
    config: dict[str, Any] | None = Field(default=None, description="openmux.toml overrides")

    _embeddings: OpenMuxEmbeddings = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("model_name", kwargs.get("model") or "openmux/auto")
        super().__init__(**kwargs)
        options: dict[str, Any] = {
            "model": self.model,
            "provider": self.provider,
            "providers": self.providers,
            "offline": self.offline,
            "config": self.config,
        }
        self._embeddings = OpenMuxEmbeddings(**{k: v for k, v in options.items() if v is not None})

    @classmethod
    def class_name(cls) -> str:
        return "OpenMuxEmbedding"

    @property
    def embeddings(self) -> OpenMuxEmbeddings:
        """The LangChain embeddings every call goes through."""
        return self._embeddings

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._embeddings.embed_query(query)

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await self._embeddings.aembed_query(query)

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._embeddings.embed_documents([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._embeddings.aembed_documents([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embeddings.embed_documents(texts)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._embeddings.aembed_documents(texts)
