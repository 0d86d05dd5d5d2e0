"""LangChain messages to and from the plain dicts and text a local model works with."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.tool import ToolCall, ToolCallChunk, tool_call_chunk
from langchain_core.messages.tool import tool_call as make_tool_call

from openmux.local._chat_template import LocalConversationRefused
from openmux.local._generation import GenerationChunk
from openmux.local._structured import tool_arguments

__all__ = ["joined", "to_chat_messages", "tool_call", "tool_call_chunks"]

_ROLES: dict[type[BaseMessage], str] = {
    SystemMessage: "system",
    HumanMessage: "user",
    AIMessage: "assistant",
    ToolMessage: "tool",
}


def _text_of(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, Mapping) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif isinstance(block, Mapping) and block.get("type") in (
            "reasoning",
            "thinking",
            "tool_use",  # a call as a content block: the message's tool_calls carry it
            "tool_call",
        ):
            continue
        else:
            kind = block.get("type") if isinstance(block, Mapping) else type(block).__name__
            raise LocalConversationRefused(
                f"the local model reads text only; a {kind!r} content block cannot be sent to it"
            )
    return "".join(parts)


def to_chat_messages(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for message in messages:
        if isinstance(message, ChatMessage):
            role = message.role
        else:
            role = next((name for cls, name in _ROLES.items() if isinstance(message, cls)), "user")
        text = _text_of(message)
        if isinstance(message, AIMessage) and message.tool_calls:
            # The calls in words, so the model reads what it asked for beside the results
            # (shown as JSON, the bundled model copied the JSON out as its answer).
            calls = (_call_in_words(call) for call in message.tool_calls)
            text = "\n".join([text, *calls]) if text else "\n".join(calls)
        out.append({"role": role, "content": text})
    return out


def _call_in_words(call: ToolCall) -> str:
    args = ", ".join(f"{key}={json.dumps(value)}" for key, value in call["args"].items())
    return f"Calling {call['name']}({args})."


def joined(chunks: Iterator[GenerationChunk]) -> GenerationChunk:
    """All chunks as one, carrying the last one's finish reason and counts."""
    parts: list[str] = []
    last = GenerationChunk("")
    for chunk in chunks:
        parts.append(chunk.text)
        last = chunk
    last.text = "".join(parts)
    return last


def tool_call(reply: GenerationChunk, tool: Mapping[str, Any]) -> ToolCall:
    """The call a whole reply (text and finish reason) makes to `tool`."""
    return make_tool_call(
        name=tool["function"]["name"],
        args=tool_arguments(reply.text, tool, cut=reply.finish_reason == "length"),
        id=f"call_{uuid.uuid4().hex[:24]}",
    )


def tool_call_chunks(reply: GenerationChunk, tool: Mapping[str, Any] | None) -> list[ToolCallChunk]:
    if tool is None:
        return []
    call = tool_call(reply, tool)
    return [
        tool_call_chunk(name=call["name"], args=json.dumps(call["args"]), id=call["id"], index=0)
    ]
