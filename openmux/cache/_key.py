"""The cache key of a request: its normalised messages and everything that changes the answer.

Two requests share an exact key when they would be routed and answered alike: the same
messages (ignoring what does not reach a model: message ids, earlier answers' metadata,
the random ids tying tool calls to their results, surrounding whitespace) and the same
options (sampling, tools, output format, pins, fan-out, classifier, settings fingerprint).
Whether the answer is streamed is not part of it.

The semantic cache compares the text of the last user turn and requires everything
else to be equal: the *scope* is the exact key with that text left out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

# Per-call options that change how an answer is delivered or traced, never what it says.
DELIVERY_OPTIONS = frozenset({"stream", "stream_options", "ls_structured_output_format"})


@dataclass(frozen=True)
class RequestKey:
    exact: str
    """Digest of the whole request."""
    scope: str
    """Digest of the request without the text of its last user turn."""
    text: str
    """The last user turn's text (what the semantic cache compares); "" when none."""


def request_key(messages: Sequence[BaseMessage], options: Mapping[str, Any]) -> RequestKey:
    normalised = normalise_messages(messages)
    text, last = _last_user_text(normalised)
    exact = _digest({"messages": normalised, "options": options})
    if last is None:
        return RequestKey(exact=exact, scope=exact, text="")
    scoped = [*normalised[:last], {**normalised[last], "content": None}, *normalised[last + 1 :]]
    scope = _digest({"messages": scoped, "options": options})
    return RequestKey(exact=exact, scope=scope, text=text)


def answer_options(call_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The per-call options that change the answer (sampling, tools, output format)."""
    return {k: v for k, v in call_kwargs.items() if k not in DELIVERY_OPTIONS and v is not None}


def normalise_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    tool_ids: dict[str, str] = {}

    def tool_id(raw: str | None) -> str | None:
        if raw is None:
            return None
        return tool_ids.setdefault(raw, f"call_{len(tool_ids)}")

    shaped: list[dict[str, Any]] = []
    for message in messages:
        entry: dict[str, Any] = {"role": message.type, "content": _content(message.content)}
        if message.name:
            entry["name"] = message.name
        calls = getattr(message, "tool_calls", None)
        if calls:
            entry["tool_calls"] = [
                {"name": c["name"], "args": c["args"], "id": tool_id(c.get("id"))} for c in calls
            ]
        call_id = getattr(message, "tool_call_id", None)
        if call_id is not None:
            entry["tool_call_id"] = tool_id(call_id)
        shaped.append(entry)
    return shaped


def _content(content: str | list[Any]) -> Any:
    if isinstance(content, str):
        return content.strip()
    blocks = [
        {k: v for k, v in block.items() if k != "id"} if isinstance(block, dict) else block
        for block in content
    ]
    if len(blocks) == 1 and isinstance(blocks[0], dict) and blocks[0].get("type") == "text":
        return str(blocks[0].get("text", "")).strip()
    return [block.strip() if isinstance(block, str) else block for block in blocks]


def _last_user_text(normalised: list[dict[str, Any]]) -> tuple[str, int | None]:
    for index in range(len(normalised) - 1, -1, -1):
        entry = normalised[index]
        if entry["role"] == "human":
            content = entry["content"]
            return (content, index) if isinstance(content, str) else ("", None)
    return "", None


def _digest(value: Any) -> str:
    # default=repr: an option that has no JSON form still keys by its value's repr; one
    # whose repr changes per object (an address) only makes a miss, never a wrong hit.
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()
