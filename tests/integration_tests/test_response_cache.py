"""The response cache against the loopback fake provider and a real state backend.

`[cache] mode = "exact"` answers a repeated request from the state backend (SQLite in
the test's state dir, or a real Valkey/Redis server): no provider request, no quota, the
metadata says `cached: true`. Everything that changes an answer is in the key; errors
and streams that did not finish are never kept.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage

from openmux import ChatOpenMux, NoProviderAvailable, Orchestrator, StreamInterrupted
from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_config, run_child

PROVIDERS = {
    "alpha": {"models": ["a-1"], "reply": "one two three four five"},
    "beta": {"models": ["b-1"], "reply": "from beta"},
}


def cached_config(server: FakeProviderServer, **cache: Any) -> dict[str, Any]:
    config = provider_config(server.providers["alpha"], server.providers["beta"])
    config["router"]["strategy"] = "ordered"
    config["cache"] = {"mode": "exact", **cache}
    return config


def sent(server: FakeProviderServer) -> int:
    """Chat requests the providers received."""
    return sum(
        count
        for provider in server.providers.values()
        for path, count in provider.hits_by_path.items()
        if path.endswith("/chat/completions")
    )


def meta(message: Any) -> dict[str, Any]:
    return message.response_metadata["openmux"]


class Seen(BaseCallbackHandler):
    """A handler: the run is observed, so ChatOpenMux runs the traced graph."""


# -- exact hits and misses ------------------------------------------------------------------


def test_a_repeated_request_is_answered_from_the_cache(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=cached_config(server))
    first = llm.invoke("Explain recursion")
    again = llm.invoke("Explain recursion")
    assert sent(server) == 1
    assert meta(first)["cached"] is False and meta(again)["cached"] is True
    assert again.content == first.content == "one two three four five"
    assert (meta(again)["provider"], meta(again)["model"]) == ("alpha", "a-1")
    assert meta(again)["task"] == meta(first)["task"]
    assert meta(again)["attempts"] == []
    assert again.usage_metadata == {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    assert again.id and again.id != first.id


def test_off_by_default(server: FakeProviderServer) -> None:
    config = cached_config(server)
    del config["cache"]
    llm = ChatOpenMux(config=config)
    llm.invoke("Explain recursion")
    assert meta(llm.invoke("Explain recursion"))["cached"] is False
    assert sent(server) == 2


def test_what_does_not_reach_a_model_does_not_change_the_key(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=cached_config(server))
    llm.invoke([SystemMessage("Be brief."), HumanMessage("Explain recursion", id="a")])
    blocks = [{"type": "text", "text": " Explain recursion"}]
    again = llm.invoke([SystemMessage("Be brief.  "), HumanMessage(blocks)])
    assert meta(again)["cached"] is True
    assert sent(server) == 1


def _tool(city: str) -> str:
    """Weather in a city."""
    return city


VARIANTS: dict[str, Any] = {
    "text": lambda llm: llm.invoke("Explain iteration"),
    "system prompt": lambda llm: llm.invoke([SystemMessage("Be brief."), "Explain recursion"]),
    "temperature": lambda llm: llm.invoke("Explain recursion", temperature=0.1),
    "instance temperature": lambda llm: llm.model_copy(update={"temperature": 0.1}).invoke(
        "Explain recursion"
    ),
    "max_tokens": lambda llm: llm.invoke("Explain recursion", max_tokens=50),
    "stop": lambda llm: llm.invoke("Explain recursion", stop=["\n"]),
    "seed": lambda llm: llm.invoke("Explain recursion", seed=7),
    "tools": lambda llm: llm.bind_tools([_tool]).invoke("Explain recursion"),
    "response format": lambda llm: llm.invoke(
        "Explain recursion", response_format={"type": "json_object"}
    ),
    "task pin": lambda llm: llm.invoke("Explain recursion", task="code"),
    "model pin": lambda llm: llm.invoke("Explain recursion", model="b-1"),
    "provider pin": lambda llm: llm.invoke("Explain recursion", provider="beta"),
    "fan-out": lambda llm: llm.invoke("Explain recursion", fanout=2, combiner="concat"),
    "classifier": lambda llm: ChatOpenMux(
        config=llm.config, classifier=lambda request: __import__("openmux").classify(request)
    ).invoke("Explain recursion"),
    "settings": lambda llm: ChatOpenMux(
        config={**llm.config, "router": {**llm.config["router"], "strategy": "best"}}
    ).invoke("Explain recursion"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_each_option_that_changes_the_answer_is_in_the_key(
    server: FakeProviderServer, variant: str
) -> None:
    llm = ChatOpenMux(config=cached_config(server))
    llm.invoke("Explain recursion")
    before = sent(server)
    changed = VARIANTS[variant](llm)
    assert sent(server) > before, f"{variant}: answered from the cache"
    assert meta(changed)["cached"] is False
    # ... and the changed request is itself kept: asked again, it is a hit.
    assert meta(VARIANTS[variant](llm))["cached"] is True


def test_structured_output_is_keyed_and_replayed(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=cached_config(server))
    llm.invoke("Say hi")
    structured = llm.with_structured_output(None, method="json_mode")
    first = structured.invoke("Say hi")
    assert isinstance(first, dict) and structured.invoke("Say hi") == first
    assert sent(server) == 2


# -- cache=False ---------------------------------------------------------------------------


def test_cache_false_per_call_neither_reads_nor_keeps(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=cached_config(server))
    llm.invoke("Explain recursion")
    fresh = llm.invoke("Explain recursion", cache=False)
    assert meta(fresh)["cached"] is False and sent(server) == 2
    llm.invoke("Explain sorting", cache=False)
    assert meta(llm.invoke("Explain sorting"))["cached"] is False  # nothing was kept
    assert sent(server) == 4


def test_cache_false_on_the_instance(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=cached_config(server), cache=False)
    llm.invoke("Explain recursion")
    assert meta(llm.invoke("Explain recursion"))["cached"] is False
    assert sent(server) == 2


def test_orchestrator_passes_cache_false_on(server: FakeProviderServer) -> None:
    orchestrator = Orchestrator(config=cached_config(server))
    first = orchestrator.process("Explain recursion")
    orchestrator.process("Explain recursion")
    assert sent(server) == 1
    orchestrator.process("Explain recursion", cache=False)
    assert sent(server) == 2 and first["response"] == "one two three four five"


# -- streams -------------------------------------------------------------------------------


def test_a_stream_is_kept_when_it_completes_and_replayed_as_a_stream(
    server: FakeProviderServer,
) -> None:
    llm = ChatOpenMux(config=cached_config(server))
    first = list(llm.stream("Explain recursion"))
    replayed = list(llm.stream("Explain recursion"))
    assert sent(server) == 1
    words = [c.content for c in replayed if c.content]
    assert len(words) > 1 and words == [c.content for c in first if c.content]
    assert all(isinstance(c, AIMessageChunk) for c in replayed)
    assert meta(replayed[-1])["cached"] is True
    assert "openmux" not in replayed[0].response_metadata  # the metadata rides on the last
    invoked = llm.invoke("Explain recursion")  # and an invoke replays the streamed answer
    assert type(invoked) is AIMessage and invoked.content == "one two three four five"
    assert sent(server) == 1


def test_an_invoked_answer_replays_as_a_stream(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=cached_config(server))
    llm.invoke("Explain recursion")
    chunks = list(llm.stream("Explain recursion"))
    assert "".join(str(c.content) for c in chunks) == "one two three four five"
    assert meta(chunks[-1])["cached"] is True and sent(server) == 1


def test_traced_runs_hit_the_cache_too(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=cached_config(server))
    handler = Seen()
    llm.invoke("Explain recursion", config={"callbacks": [handler]})
    again = llm.invoke("Explain recursion", config={"callbacks": [handler]})
    list(llm.stream("Explain sorting", config={"callbacks": [handler]}))
    streamed = list(llm.stream("Explain sorting", config={"callbacks": [handler]}))
    assert meta(again)["cached"] is True and type(again) is AIMessage
    assert meta(streamed[-1])["cached"] is True and len([c for c in streamed if c.content]) > 1
    assert sent(server) == 2


def test_async_calls_hit_the_cache(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=cached_config(server))

    async def run() -> tuple[Any, list[Any]]:
        await llm.ainvoke("Explain recursion")
        again = await llm.ainvoke("Explain recursion")
        [chunk async for chunk in llm.astream("Explain sorting")]
        return again, [chunk async for chunk in llm.astream("Explain sorting")]

    again, streamed = asyncio.run(run())
    assert meta(again)["cached"] is True and meta(streamed[-1])["cached"] is True
    assert sent(server) == 2


# -- errors and interrupted streams are never kept -------------------------------------------


def test_an_error_is_not_kept(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=cached_config(server, ttl_s=600), max_attempts=2)
    for provider in server.providers.values():
        provider.fault = Fault.status(400)
    with pytest.raises(NoProviderAvailable):
        llm.invoke("Explain recursion")
    for provider in server.providers.values():
        provider.fault = None
    before = sent(server)
    answer = llm.invoke("Explain recursion")
    assert meta(answer)["cached"] is False and sent(server) == before + 1


def test_an_interrupted_stream_is_not_kept(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=cached_config(server))
    server.providers["alpha"].fault = Fault.mid_stream_error(after_chunks=2)
    with pytest.raises(StreamInterrupted):
        list(llm.stream("Explain recursion"))
    server.providers["alpha"].fault = None
    answer = llm.invoke("Explain recursion")
    assert meta(answer)["cached"] is False and answer.content == "one two three four five"


def test_a_stream_the_caller_stops_is_not_kept(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=cached_config(server))
    stream = llm.stream("Explain recursion")
    next(stream)
    next(stream)
    stream.close()
    answer = llm.invoke("Explain recursion")
    assert meta(answer)["cached"] is False and sent(server) == 2


def test_an_answer_made_while_the_network_is_down_is_not_kept(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = cached_config(server)
    # A remote provider whose host never resolves: the router finds itself offline and
    # answers from the loopback (local) providers alone.
    config["providers"]["remote"] = {
        "protocol": "openai",
        "base_url": "https://remote.invalid/v1",
        "api_key_env": "REMOTE_TEST_KEY",
        "free": True,
        "models": ["r-1"],
    }
    config["router"]["providers"] = ["remote", "alpha"]
    monkeypatch.setenv("REMOTE_TEST_KEY", "sk-remote-test-000000")
    llm = ChatOpenMux(config=config)
    first = llm.invoke("Explain recursion")
    assert meta(first)["offline"] is True and meta(first)["provider"] == "alpha"
    assert meta(llm.invoke("Explain recursion"))["cached"] is False
    assert sent(server) == 2


# -- a hit costs no request and no quota -----------------------------------------------------


def test_a_hit_spends_no_quota(server: FakeProviderServer) -> None:
    config = cached_config(server)
    config["router"]["providers"] = ["alpha"]
    config["providers"]["alpha"]["limits"] = {"rpm": 1}
    llm = ChatOpenMux(config=config)
    llm.invoke("Explain recursion")
    for _ in range(3):  # over the limit were they sent
        assert meta(llm.invoke("Explain recursion"))["cached"] is True
    assert sent(server) == 1
    with pytest.raises(NoProviderAvailable) as refused:
        llm.invoke("Explain sorting")  # the one request a minute went to the first question
    assert [a["status"] for a in refused.value.attempts] == ["over_quota"]


def test_hits_are_counted_in_usage_apart_from_requests(server: FakeProviderServer) -> None:
    import openmux
    from openmux.cli._stats import render_text
    from openmux.quotas import usage_log

    llm = ChatOpenMux(config=cached_config(server))
    for _ in range(4):
        llm.invoke("Explain recursion")
    usage_log(Path(os.environ["OPENMUX_STATE_DIR"])).flush()  # the rows still batched
    data = openmux.usage("1h")
    assert (data["requests"], data["ok"], data["cached"]) == (1, 1, 3)
    (alpha,) = data["models"]
    assert (alpha["provider"], alpha["requests"], alpha["cached"]) == ("alpha", 1, 3)
    assert alpha["today"] == 1  # replays draw on no free limit
    text = render_text(data, "1h")
    assert "1 requests, 100% ok, 3 more answered from the cache" in text
    assert "replayed from the cache 3" in text


# -- expiry --------------------------------------------------------------------------------


def test_an_answer_expires_after_ttl_s(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=cached_config(server, ttl_s=1))
    llm.invoke("Explain recursion")
    assert meta(llm.invoke("Explain recursion"))["cached"] is True
    time.sleep(1.2)
    assert meta(llm.invoke("Explain recursion"))["cached"] is False
    assert sent(server) == 2


# -- across processes ----------------------------------------------------------------------

CHILD = """
import json, sys
from openmux import ChatOpenMux
message = ChatOpenMux(config=json.loads(sys.argv[1])).invoke("Explain recursion")
print(json.dumps(message.response_metadata["openmux"]["cached"]))
"""


def _child(config: dict[str, Any], env: dict[str, str]) -> bool:
    root = str(Path(__file__).resolve().parents[2])
    done = run_child(
        [sys.executable, "-c", CHILD, json.dumps(config)], env={**env, "PYTHONPATH": root}
    )
    assert done.returncode == 0, done.stderr
    return bool(json.loads(done.stdout))


def test_a_process_answers_from_what_another_kept_in_the_state_dir(
    server: FakeProviderServer,
) -> None:
    config = cached_config(server)
    assert _child(config, dict(os.environ)) is False
    assert _child(config, dict(os.environ)) is True
    assert meta(ChatOpenMux(config=config).invoke("Explain recursion"))["cached"] is True
    assert sent(server) == 1


def test_processes_with_their_own_state_dirs_share_answers_through_redis(
    server: FakeProviderServer, state_server: Any, tmp_path: Path
) -> None:
    config = cached_config(server)
    config["state"] = {"url": state_server.url}
    first = {**os.environ, "OPENMUX_STATE_DIR": str(tmp_path / "a")}
    second = {**os.environ, "OPENMUX_STATE_DIR": str(tmp_path / "b")}
    assert _child(config, first) is False
    assert _child(config, second) is True
    assert sent(server) == 1
