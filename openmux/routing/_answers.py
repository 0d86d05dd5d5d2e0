"""What makes a provider's answer one the caller can use: content or tool calls that can
be made, token counts that are counts, and, for a stream, an end the provider said. An
answer that fails is a bad response (failed over before the first token, an error after).
"""

from __future__ import annotations

import json
import math

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage

from openmux.providers import ProviderFailure, StreamDone


def has_answer(message: BaseMessage) -> bool:
    if isinstance(message, AIMessage) and (message.tool_calls or message.invalid_tool_calls):
        check_tool_calls(message)
        return True
    return bool(message.content)


def check_tool_calls(message: AIMessage) -> None:
    """Every tool call must be one the caller can make and answer: arguments that are a
    JSON object, and an id for the tool's result to name."""
    for invalid in message.invalid_tool_calls:
        name, error = invalid.get("name"), invalid.get("error")
        raise ProviderFailure("bad_response", f"the tool call {name!r} is not valid: {error}")
    for call in message.tool_calls:
        if not call.get("id"):
            raise ProviderFailure("bad_response", f"the tool call {call['name']!r} has no id")


_USAGE_COUNTS = ("input_tokens", "output_tokens", "total_tokens")


def check_usage(message: BaseMessage) -> None:
    """A provider's token usage must be counts: strings or negative numbers are garbage
    (they would be handed on as the answer's usage, and credit the quota counters)."""
    usage = getattr(message, "usage_metadata", None)
    if not usage:
        return
    for name in _USAGE_COUNTS:
        count = usage.get(name)
        if count is not None and not (isinstance(count, (int, float)) and 0 <= count < math.inf):
            raise ProviderFailure("bad_response", f"the answer's {name} is not a count: {count!r}")


_FAILED = "error"
"""The finish reason of a generation that failed (OpenRouter's, with or without an error)."""


def finish_mark_of(model: object) -> str | None:
    """The response_metadata key under which this model's answers say how they finished;
    None when they do not say (see the adapters' `finish_mark`)."""
    return getattr(model, "finish_mark", None)


def finished(message: BaseMessage, mark: str | None) -> bool:
    """Whether the answer says it finished; a failed finish is a bad response."""
    if mark is None:
        return True
    reason = message.response_metadata.get(mark)
    if reason == _FAILED:
        raise ProviderFailure("bad_response", "the provider ended the answer with an error")
    return bool(reason)


def unfinished() -> ProviderFailure:
    return ProviderFailure("bad_response", "the stream ended before the answer said it finished")


class CallIndexes:
    """The index of each streamed tool-call chunk: its own, or, for a chunk without one (a
    chat model that builds its chunks from whole calls, as langchain-ollama does), the
    next call's. Every chunk of one index belongs to one call, as OpenAI clients join them."""

    __slots__ = ("begun",)

    def __init__(self) -> None:
        self.begun = 0

    def of(self, index: int | None) -> int:
        if index is None:
            index = self.begun
        self.begun = max(self.begun, index + 1)
        return index


class StreamedCalls:
    """A stream's tool-call arguments, gathered per call as they arrive and checked once it
    ends: a call whose arguments are no JSON object cannot be made (nor failed over, its
    chunks being with the caller already), so the stream ends with an error."""

    __slots__ = ("arguments", "indexes")

    def __init__(self) -> None:
        self.arguments: dict[int, str] = {}
        self.indexes = CallIndexes()

    def add(self, chunk: BaseMessage) -> None:
        for call in getattr(chunk, "tool_call_chunks", None) or ():
            index = self.indexes.of(call.get("index"))
            self.arguments[index] = self.arguments.get(index, "") + (call.get("args") or "")

    def check(self) -> None:
        for arguments in self.arguments.values():
            try:
                parsed = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                raise ProviderFailure(
                    "bad_response", "a streamed tool call's arguments are not a JSON object"
                )


class StreamEnd:
    """What a stream's chunks say as they pass to the caller, checked once it ends: the
    text so far (for the error, should it break), the last chunk with usage, the tool
    calls, and whether it said it finished, or its event stream ended with `[DONE]`."""

    __slots__ = ("calls", "done", "last", "mark", "partial", "said_finished")

    def __init__(self, mark: str | None, first: BaseMessage, done: StreamDone) -> None:
        self.mark = mark
        self.done = done
        self.partial = ""
        self.last = first
        self.calls = StreamedCalls()
        self.said_finished = False

    def add(self, chunk: BaseMessage) -> None:
        self.partial += chunk.text
        if getattr(chunk, "usage_metadata", None):
            check_usage(chunk)
            self.last = chunk
        self.calls.add(chunk)
        # Every chunk is asked: one that ends the answer with an error fails it.
        self.said_finished = finished(chunk, self.mark) or self.said_finished

    def check(self) -> None:
        if not (self.said_finished or self.done.seen):
            raise unfinished()
        self.calls.check()


def check_answer(message: BaseMessage, mark: str | None) -> BaseMessage:
    """The whole answer of a call that is not streamed, if it is one the caller can use."""
    if not has_answer(message):
        raise ProviderFailure("bad_response", "the answer was empty")
    check_usage(message)
    finished(message, mark)
    return message


def chunk_has_answer(chunk: BaseMessage) -> bool:
    if isinstance(chunk, AIMessageChunk) and chunk.tool_call_chunks:
        return True
    return bool(chunk.content)
