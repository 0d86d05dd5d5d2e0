"""What every combiner sees (`CombineJob`) and the base class they share."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage


@dataclass
class MemberAnswer:
    """One fan-out member's outcome: its answer, or how it failed."""

    rank: int
    """0 for the best-ranked member (ties in `vote` go to the lowest rank)."""
    label: str
    """`provider:model` of the candidate that answered (or the planned one, on failure)."""
    provider: str | None
    model: str | None
    status: str
    """"ok" or a failure kind (timeout, http_5xx, ...)."""
    latency_ms: float
    message: AIMessage | None = None
    candidate: Any = None
    """The router's record of who answered (not used by combiners)."""

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.message is not None

    @property
    def text(self) -> str:
        return self.message.text if self.message is not None else ""

    def rendered(self) -> str:
        """The answer as text; tool calls as JSON, so they can be shown, judged and voted on."""
        if self.message is None:
            return ""
        if self.message.tool_calls:
            calls = [{"name": c["name"], "args": c["args"]} for c in self.message.tool_calls]
            return (self.text + "\n" if self.text else "") + json.dumps(calls, sort_keys=True)
        return self.text


class ModelCalls(Protocol):
    """Calls a model on the combiner's behalf, with failover, recording its attempts.

    `model` names a model as `model=` does ("ID" or "PROVIDER:ID"; None: the top
    candidate for the request's task). `local_only` keeps the call on this machine.
    """

    def invoke(
        self,
        messages: Sequence[BaseMessage],
        *,
        model: str | None = None,
        local_only: bool = False,
        call_kwargs: dict[str, Any] | None = None,
    ) -> AIMessage: ...

    async def ainvoke(
        self,
        messages: Sequence[BaseMessage],
        *,
        model: str | None = None,
        local_only: bool = False,
        call_kwargs: dict[str, Any] | None = None,
    ) -> AIMessage: ...

    def stream(
        self,
        messages: Sequence[BaseMessage],
        *,
        model: str | None = None,
        local_only: bool = False,
        call_kwargs: dict[str, Any] | None = None,
    ) -> Iterator[AIMessageChunk]: ...

    def astream(
        self,
        messages: Sequence[BaseMessage],
        *,
        model: str | None = None,
        local_only: bool = False,
        call_kwargs: dict[str, Any] | None = None,
    ) -> AsyncIterator[AIMessageChunk]: ...


@dataclass
class CombineJob:
    """The question, the members' answers and a way to call a model."""

    messages: list[BaseMessage]
    answers: list[MemberAnswer]
    """The members that answered, best-ranked first (never empty)."""
    calls: ModelCalls
    judge: str | None = None
    call_kwargs: dict[str, Any] = field(default_factory=dict)
    """The caller's sampling options (temperature, max_tokens) for merging models."""
    info: dict[str, Any] = field(default_factory=dict)
    """The combiner's `response_metadata["openmux"]["combiner"]` dict; it fills it in."""
    chosen: MemberAnswer | None = None
    """The member whose answer is returned as is (best, vote), if any."""


class Combiner(ABC):
    """Turns several answers into one. Subclasses set `name` and implement `combine`.

    `stream`/`astream` yield the combined answer in one chunk unless the
    combiner's own model call streams (summarize).
    """

    name: ClassVar[str] = ""
    combines_tool_calls: ClassVar[bool] = False
    """Whether answers holding tool calls or structured output (JSON) can be combined (by
    picking one of them)."""
    local_only: ClassVar[bool] = False

    @abstractmethod
    def combine(self, job: CombineJob) -> AIMessage:
        """The combined answer; also fills `job.info` (and `job.chosen` when it picks one)."""

    async def acombine(self, job: CombineJob) -> AIMessage:
        return self.combine(job)

    def stream(self, job: CombineJob) -> Iterator[AIMessageChunk]:
        yield as_chunk(self.combine(job))

    async def astream(self, job: CombineJob) -> AsyncIterator[AIMessageChunk]:
        yield as_chunk(await self.acombine(job))


def as_chunk(message: AIMessage) -> AIMessageChunk:
    """The whole message as one chunk (tool calls as complete tool-call chunks)."""
    chunks = [
        {
            "name": call["name"],
            "args": json.dumps(call["args"]),
            "id": call["id"],
            "index": index,
            "type": "tool_call_chunk",
        }
        for index, call in enumerate(message.tool_calls)
    ]
    return AIMessageChunk(
        content=message.content,
        tool_call_chunks=chunks,  # type: ignore[arg-type]
        response_metadata=dict(message.response_metadata),
    )


def pick(answer: MemberAnswer, job: CombineJob) -> AIMessage:
    """Return one member's answer as the combined one (a copy: usage is set later)."""
    job.chosen = answer
    assert answer.message is not None
    return answer.message.model_copy(update={"usage_metadata": None, "id": None})


def render_conversation(messages: Sequence[BaseMessage], limit: int = 12_000) -> str:
    """The conversation as plain text for a judging or merging prompt (latest turns kept)."""
    lines = []
    for message in messages:
        role = {"human": "User", "ai": "Assistant", "system": "System", "tool": "Tool"}.get(
            message.type, message.type
        )
        lines.append(f"{role}: {message.text}")
    text = "\n\n".join(lines)
    return text if len(text) <= limit else "…" + text[-limit:]
