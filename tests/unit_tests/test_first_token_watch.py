"""What counts as a provider's data between tokens (`providers._first_token`): an event
stream's data events with nothing in them bring no more than keep-alive comments, but a
reasoning delta, a finish reason or a usage block is data."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from openmux.providers._first_token import FirstTokenWatch, StreamDone, watching_done

LIMIT = 0.2


def _event(delta: dict[str, Any] | None = None, **extra: Any) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": None}]
    return b"data: " + json.dumps({"choices": choices, **extra}).encode() + b"\n\n"


def _watch_after_first_token() -> FirstTokenWatch:
    watch = FirstTokenWatch(time.monotonic(), LIMIT, TimeoutError)
    watch.check(_event({"role": "assistant", "content": "Hi"}))
    return watch


def _keeps_sending(watch: FirstTokenWatch, event: bytes) -> None:
    for _ in range(int(LIMIT * 3 / 0.05)):
        time.sleep(0.05)
        watch.check(event)


EMPTY = {
    "empty delta": _event({}),
    "role alone": _event({"role": "assistant"}),
    "empty content": _event({"content": "", "tool_calls": None}),
    "no choices, no usage": _event(None, usage=None),
}


@pytest.mark.parametrize("empty", list(EMPTY))
def test_data_events_with_nothing_in_them_do_not_keep_a_stream_alive(empty: str) -> None:
    watch = _watch_after_first_token()
    with pytest.raises(TimeoutError, match="since the last"):
        _keeps_sending(watch, EMPTY[empty])


def test_an_empty_event_split_across_reads_is_no_data() -> None:
    watch = _watch_after_first_token()
    event = _event({})
    with pytest.raises(TimeoutError):
        for _ in range(int(LIMIT * 3 / 0.05)):
            time.sleep(0.05)
            watch.check(event[:7])
            watch.check(event[7:])


SOMETHING = {
    "reasoning": _event({"reasoning": "thinking it over"}),
    "tool call": _event({"tool_calls": [{"index": 0, "function": {"arguments": "{"}}]}),
    "finish only": b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n',
    "usage only": _event(None, usage={"prompt_tokens": 1, "completion_tokens": 2}),
    "another shape": b'data: {"response": "a word"}\n\n',
    "not json": b"data: a word\n\n",
}


@pytest.mark.parametrize("something", list(SOMETHING))
def test_data_events_that_bring_something_keep_a_stream_alive(something: str) -> None:
    _keeps_sending(_watch_after_first_token(), SOMETHING[something])


def test_lines_that_are_not_events_are_data() -> None:
    """Ollama's lines and whole JSON bodies have no `data:` prefix: each is data."""
    line = json.dumps({"message": {"role": "assistant", "content": ""}, "done": False})
    _keeps_sending(_watch_after_first_token(), line.encode() + b"\n")


def test_a_done_split_across_reads_is_seen() -> None:
    with watching_done() as done:
        watch = FirstTokenWatch(time.monotonic(), None, TimeoutError)
    for piece in (_event({"content": "Hi"}), b"data: [DO", b"NE]\n\n"):
        watch.check(piece)
    assert isinstance(done, StreamDone) and done.seen
