"""What the cache keeps of an answer, and how it is given back.

An answer is kept as the message an invoke returned or as the chunks a stream yielded,
plus the routing that made it (task, provider, model, reason: the `openmux` metadata
without latency and attempts). Either form replays as either: a streamed answer
streams again chunk by chunk; an invoked answer streams as one chunk.

A replayed answer made no provider request and spent no tokens: its usage is zero.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    message_chunk_to_message,
    message_to_dict,
    messages_from_dict,
)

# Metadata a hit recomputes (or has none of): the time it took and the attempts it made.
_PER_RUN = frozenset({"latency_ms", "attempts", "cached", "timings"})
_NO_USAGE = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}


@dataclass(frozen=True)
class CachedAnswer:
    routing: dict[str, Any]
    """The `openmux` metadata of the answer when it was made, without per-run keys."""
    messages: tuple[BaseMessage, ...]
    """One message (an invoked answer) or the chunks of a streamed one."""

    @classmethod
    def of(cls, messages: Iterable[BaseMessage], metadata: Mapping[str, Any]) -> CachedAnswer:
        """An invoked answer (one message) or a streamed one (its chunks), and its routing."""
        return cls(_routing(metadata), tuple(_kept(message) for message in messages))

    def message(self) -> AIMessage:
        """The answer as one message (chunks merged)."""
        first, *rest = self.messages
        if not rest and isinstance(first, AIMessage) and not isinstance(first, AIMessageChunk):
            merged: BaseMessage = first
        else:
            chunks = self.chunks()
            merged = message_chunk_to_message(chunks[0] + chunks[1:] if chunks[1:] else chunks[0])
        message = merged.model_copy(update={"usage_metadata": dict(_NO_USAGE)})
        assert isinstance(message, AIMessage)
        return message

    def chunks(self) -> list[AIMessageChunk]:
        """The answer as the chunks of a stream; the last one carries the zero usage."""
        chunks = [_chunk(message) for message in self.messages]
        chunks[-1] = chunks[-1].model_copy(update={"usage_metadata": dict(_NO_USAGE)})
        return chunks

    def to_bytes(self) -> bytes:
        record = {
            "routing": self.routing,
            "messages": [message_to_dict(message) for message in self.messages],
        }
        return json.dumps(record, ensure_ascii=False, default=repr).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> CachedAnswer | None:
        """None for an entry this version cannot read (it then counts as a miss)."""
        try:
            record = json.loads(data)
            messages = tuple(messages_from_dict(record["messages"]))
            routing = dict(record["routing"])
        except (ValueError, KeyError, TypeError):
            return None
        return cls(routing, messages) if messages else None


def _routing(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metadata.items() if k not in _PER_RUN}


def _kept(message: BaseMessage) -> BaseMessage:
    # The id belongs to the run that made it; usage and the openmux metadata are per run.
    metadata = {k: v for k, v in message.response_metadata.items() if k != "openmux"}
    update: dict[str, Any] = {"id": None, "response_metadata": metadata}
    if isinstance(message, AIMessage):
        update["usage_metadata"] = None
    return message.model_copy(update=update)


def _chunk(message: BaseMessage) -> AIMessageChunk:
    if isinstance(message, AIMessageChunk):
        return message.model_copy()
    fields: dict[str, Any] = {
        "content": message.content,
        "additional_kwargs": message.additional_kwargs,
        "response_metadata": message.response_metadata,
    }
    calls: Sequence[Any] = getattr(message, "tool_calls", None) or ()
    if calls:
        fields["tool_call_chunks"] = [
            {"name": c["name"], "args": json.dumps(c["args"]), "id": c.get("id"), "index": i}
            for i, c in enumerate(calls)
        ]
    return AIMessageChunk(**fields)
