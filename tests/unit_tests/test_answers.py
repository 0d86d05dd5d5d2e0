"""What the call stage asks of a streamed answer as it passes (`routing._answers`)."""

from __future__ import annotations

from langchain_core.messages import AIMessageChunk

from openmux.providers import StreamDone
from openmux.routing._answers import StreamEnd


def test_streamed_tool_calls_without_indexes_are_calls_of_their_own() -> None:
    """langchain-ollama (and every chat model that builds its chunks from whole tool
    calls) streams calls with no index. Their arguments were gathered as one call's,
    '{"city": "Paris"}{"zone": "CET"}', so a stream of two parallel calls ended with
    an error after the caller had both."""
    both = [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "a"},
        {"name": "get_time", "args": {"zone": "CET"}, "id": "b"},
    ]
    end = StreamEnd(None, AIMessageChunk(content=""), StreamDone())
    end.add(AIMessageChunk(content="", tool_calls=both))
    end.add(AIMessageChunk(content="", tool_calls=[{"name": "get_time", "args": {}, "id": "c"}]))
    end.check()
