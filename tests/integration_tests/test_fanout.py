"""Fan-out and combiners end to end against loopback fake providers."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.tools import tool

from openmux import (
    ChatOpenMux,
    ConfigError,
    NoProviderAvailable,
    Orchestrator,
    TaskClassification,
    TaskType,
)
from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_config

_USUAL_KEYS = {"task", "confidence", "provider", "model", "reason", "latency_ms", "offline"}
_MEMBER_KEYS = {"provider", "model", "status", "latency_ms", "content"}

# What each fake provider answers (per test), and the judge's verdict.
ANSWERS: dict[str, str] = {}
VERDICT: dict[str, str] = {}
HOOKS: dict[str, Callable[[str], None]] = {}


def _replier(name: str) -> Callable[[dict[str, Any]], str]:
    def reply(body: dict[str, Any]) -> str:
        text = json.dumps(body.get("messages"))
        if "BEST: <the answer" in text:
            return VERDICT.get("text", "BEST: 1\nREASON: first")
        if "Responses from models:" in text:
            return f"merged answer written by {name} from several drafts"
        hook = HOOKS.get("member")
        if hook is not None:
            hook(name)
        return ANSWERS.get(f"{name}:{body.get('model')}", ANSWERS.get(name, f"from {name}"))

    return reply


PROVIDERS = {
    "alpha": dict(models=["shared", "alpha-only"], reply=_replier("alpha")),
    "beta": dict(models=["shared", "beta-only"], reply=_replier("beta")),
    "gamma": dict(models=["gamma-only"], reply=_replier("gamma")),
    "local": dict(models=["tiny"], reply=_replier("local")),
}


@pytest.fixture(autouse=True)
def no_scripted_answers() -> Iterator[None]:
    ANSWERS.clear()
    VERDICT.clear()
    HOOKS.clear()
    yield
    HOOKS.clear()


def _as_chat(_: Any) -> TaskClassification:
    return TaskClassification(TaskType.CHAT, 0.9, [], "fixed for the test")


def _llm(server: FakeProviderServer, *names: str, **kwargs: Any) -> ChatOpenMux:
    providers = [server.providers[n] for n in names or ("alpha", "beta", "gamma")]
    kwargs.setdefault("classifier", _as_chat)
    return ChatOpenMux(config=provider_config(*providers), **kwargs)


def _meta(message: AIMessage) -> dict[str, Any]:
    return message.response_metadata["openmux"]  # type: ignore[no-any-return]


def _members(message: AIMessage) -> list[tuple[str, str, str]]:
    return [(m["provider"], m["model"], m["status"]) for m in _meta(message)["members"]]


# -- metadata and planning -----------------------------------------------------------------


def test_metadata_contract(server: FakeProviderServer) -> None:
    message = _llm(server, fanout=3, combiner="concat").invoke("hello")
    meta = _meta(message)
    assert set(meta) == {
        *_USUAL_KEYS,
        *("cached", "attempts", "members", "combiner", "fanout_requested", "fanout_used"),
    }
    assert meta["fanout_requested"] == meta["fanout_used"] == 3
    assert all(set(member) == _MEMBER_KEYS for member in meta["members"])
    assert meta["combiner"]["name"] == "concat"
    assert meta["combiner"]["members"] == meta["combiner"]["answers"] == 3
    assert meta["task"] == "chat" and "fan-out to 3 models" in meta["reason"]
    assert [a["status"] for a in meta["attempts"]] == ["ok", "ok", "ok"]
    assert message.usage_metadata and message.usage_metadata["total_tokens"] > 0


def test_fanout_n_takes_the_top_distinct_models(server: FakeProviderServer) -> None:
    # Candidates: alpha:shared, alpha:alpha-only, beta:shared, beta:beta-only, gamma:...;
    # the same model at a second provider is not a second opinion.
    message = _llm(server, fanout=3, combiner="concat").invoke("hello")
    assert _members(message) == [
        ("alpha", "shared", "ok"),
        ("alpha", "alpha-only", "ok"),
        ("beta", "beta-only", "ok"),
    ]
    assert server.providers["gamma"].hits == 0


def test_fanout_by_model_names(server: FakeProviderServer) -> None:
    message = _llm(server, fanout=["beta:shared", "gamma-only"], combiner="concat").invoke("hi")
    assert _members(message) == [("beta", "shared", "ok"), ("gamma", "gamma-only", "ok")]
    assert message.content == "[beta:shared]\nfrom beta\n\n[gamma:gamma-only]\nfrom gamma"


def test_per_call_options(server: FakeProviderServer) -> None:
    llm = _llm(server)
    assert "members" not in _meta(llm.invoke("hi"))
    message = llm.invoke("hi", fanout=2, combiner="vote")
    assert _meta(message)["combiner"]["name"] == "vote" and len(_meta(message)["members"]) == 2
    assert "members" not in _meta(_llm(server, fanout=2).invoke("hi", fanout=0))  # 0: off


def test_members_run_concurrently(server: FakeProviderServer) -> None:
    # Each member's request waits until all three are in flight: sequential calls would
    # break the barrier (and the test), whatever the timing.
    barrier = threading.Barrier(3, timeout=10)
    HOOKS["member"] = lambda _: barrier.wait() and None
    message = _llm(server, fanout=3, combiner="concat").invoke("hello")
    assert [m["status"] for m in _meta(message)["members"]] == ["ok", "ok", "ok"]


async def test_members_run_concurrently_async(server: FakeProviderServer) -> None:
    barrier = threading.Barrier(3, timeout=10)
    HOOKS["member"] = lambda _: barrier.wait() and None
    message = await _llm(server, fanout=3, combiner="concat").ainvoke("hello")
    assert [m["status"] for m in _meta(message)["members"]] == ["ok", "ok", "ok"]


# -- combiners -----------------------------------------------------------------------------


def test_concat_labels_every_answer(server: FakeProviderServer) -> None:
    message = _llm(server, fanout=2, combiner="concat").invoke("hello")
    assert message.content == "[alpha:shared]\nfrom alpha\n\n[alpha:alpha-only]\nfrom alpha"
    combiner = _meta(message)["combiner"]
    assert combiner["reason"] == "all 2 answers, labelled by model"


def test_vote_normalises_and_reports_agreement(server: FakeProviderServer) -> None:
    ANSWERS.update({"alpha:shared": "No.", "alpha:alpha-only": "yes", "beta": "**Yes.**"})
    message = _llm(server, fanout=3, combiner="vote").invoke("Is water wet? yes or no")
    assert message.content == "yes"  # the best-ranked member of the winning group, verbatim
    combiner = _meta(message)["combiner"]
    assert combiner["name"] == "vote" and combiner["answer"] == "yes"
    assert combiner["agreement"] == 0.67 and combiner["votes"] == {"yes": 2, "no": 1}
    assert combiner["winner"] == "alpha:alpha-only"
    assert (_meta(message)["provider"], _meta(message)["model"]) == ("alpha", "alpha-only")


def test_vote_tie_goes_to_the_best_ranked_model(server: FakeProviderServer) -> None:
    ANSWERS.update({"alpha:shared": "1,000", "alpha:alpha-only": "999"})
    message = _llm(server, fanout=2, combiner="vote").invoke("How many?")
    combiner = _meta(message)["combiner"]
    assert message.content == "1,000" and combiner["winner"] == "alpha:shared"
    assert combiner["agreement"] == 0.5 and "tie" in combiner["reason"]


def test_best_follows_the_judge(server: FakeProviderServer) -> None:
    ANSWERS.update({"alpha:shared": "short", "alpha:alpha-only": "the thorough answer"})
    VERDICT["text"] = "BEST: 2\nREASON: it is complete and correct."
    message = _llm(server, fanout=2, combiner="best").invoke("Explain")
    combiner = _meta(message)["combiner"]
    assert message.content == "the thorough answer"
    assert combiner["method"] == "judge" and combiner["winner"] == "alpha:alpha-only"
    assert combiner["reason"] == "it is complete and correct."
    # Default judge: the top candidate for the task.
    assert (combiner["provider"], combiner["model"]) == ("alpha", "shared")
    judge_prompt = server.providers["alpha"].requests[-1].json["messages"][-1]["content"]
    assert "Answer 2:\nthe thorough answer" in judge_prompt
    assert "alpha-only" not in judge_prompt  # the answers are anonymous


def test_best_with_a_named_judge(server: FakeProviderServer) -> None:
    VERDICT["text"] = "BEST: 1\nREASON: fine"
    message = _llm(server, fanout=2, combiner="best", judge="gamma-only").invoke("Explain")
    assert _meta(message)["combiner"]["provider"] == "gamma"
    assert server.providers["gamma"].hits == 1


def test_best_falls_back_to_a_heuristic_when_no_judge_answers(
    server: FakeProviderServer,
) -> None:
    ANSWERS.update(
        {
            "alpha:shared": "I'm sorry, I can't help with that.",
            "beta:beta-only": "Paris is the capital of France.",
            "alpha:alpha-only": "The capital of France is Paris.",
        }
    )
    server.providers["gamma"].fault = Fault.status(500)
    message = _llm(server, fanout=3, combiner="best", judge="gamma-only").invoke("Capital?")
    combiner = _meta(message)["combiner"]
    assert combiner["method"] == "heuristic" and "no judge answered" in combiner["reason"]
    assert "sorry" not in message.text
    statuses = [(a["provider"], a["status"]) for a in _meta(message)["attempts"]]
    assert ("gamma", "http_5xx") in statuses


def test_best_falls_back_when_the_verdict_is_unreadable(server: FakeProviderServer) -> None:
    VERDICT["text"] = "They are all lovely."
    message = _llm(server, fanout=2, combiner="best").invoke("Explain")
    assert _meta(message)["combiner"]["method"] == "heuristic"
    assert "named no answer" in _meta(message)["combiner"]["reason"]


def test_summarize_merges_with_one_more_model(server: FakeProviderServer) -> None:
    message = _llm(server, fanout=2, combiner="summarize").invoke("Explain recursion")
    meta = _meta(message)
    assert message.content == "merged answer written by alpha from several drafts"
    assert (meta["provider"], meta["model"]) == ("alpha", "shared")
    assert meta["combiner"]["reason"] == "2 answers merged into one by one model"
    merge_request = server.providers["alpha"].requests[-1].json
    system = merge_request["messages"][0]
    assert system["role"] == "system" and "1. from alpha" in system["content"]
    assert merge_request["messages"][-1]["content"] == "Explain recursion"
    assert len(meta["attempts"]) == 3  # two members and the merge


def test_summarize_streams(server: FakeProviderServer) -> None:
    chunks = list(_llm(server, fanout=2, combiner="summarize").stream("Explain"))
    assert len([c for c in chunks if c.content]) > 1
    with_meta = [c for c in chunks if "openmux" in c.response_metadata]
    assert len(with_meta) == 1  # the metadata rides on one chunk, after the text
    assert not any(c.content for c in chunks[chunks.index(with_meta[0]) :])
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert isinstance(merged, AIMessageChunk)
    assert merged.content == "merged answer written by alpha from several drafts"
    assert len(merged.response_metadata["openmux"]["members"]) == 2
    assert merged.usage_metadata and merged.usage_metadata["total_tokens"] > 0


async def test_summarize_astreams(server: FakeProviderServer) -> None:
    chunks = [c async for c in _llm(server, fanout=2, combiner="summarize").astream("Explain")]
    assert len([c for c in chunks if c.content]) > 1
    assert "".join(c.text for c in chunks) == "merged answer written by alpha from several drafts"
    with_meta = [c for c in chunks if "openmux" in c.response_metadata]
    assert len(with_meta) == 1
    assert with_meta[0].response_metadata["openmux"]["combiner"]["name"] == "summarize"


@pytest.mark.parametrize("form", ["invoke", "ainvoke", "stream", "astream", "traced"])
def test_a_merge_that_fails_says_the_members_answered(
    server: FakeProviderServer, form: str
) -> None:
    server.providers["gamma"].fault = Fault.status(401)
    llm = _llm(server, fanout=["alpha-only", "beta-only"], combiner="summarize", judge="gamma-only")

    async def astream() -> list[Any]:
        return [chunk async for chunk in llm.astream("Explain")]

    runs: dict[str, Callable[[], Any]] = {
        "invoke": lambda: llm.invoke("Explain"),
        "ainvoke": lambda: asyncio.run(llm.ainvoke("Explain")),
        "stream": lambda: list(llm.stream("Explain")),
        "astream": lambda: asyncio.run(astream()),
        "traced": lambda: llm.invoke("Explain", config={"callbacks": [_Collect()]}),
    }
    with pytest.raises(NoProviderAvailable, match="2 fan-out members answered") as caught:
        runs[form]()
    seen = [(a["provider"], a["status"]) for a in caught.value.attempts]
    assert ("alpha", "ok") in seen and ("beta", "ok") in seen and ("gamma", "auth") in seen
    assert "gamma: the key was refused" in str(caught.value)


def test_concat_and_vote_stream_one_chunk(server: FakeProviderServer) -> None:
    for combiner in ("concat", "vote"):
        chunks = list(_llm(server, fanout=2, combiner=combiner).stream("hi"))
        assert len([c for c in chunks if c.content]) == 1


def test_local_summarize_merges_on_the_local_provider(server: FakeProviderServer) -> None:
    message = _llm(server, "alpha", "beta", "local", fanout=2, combiner="local-summarize").invoke(
        "Explain"
    )
    meta = _meta(message)
    assert message.content == "merged answer written by local from several drafts"
    assert meta["combiner"]["provider"] == "local" and meta["provider"] == "local"
    assert server.providers["local"].hits == 1


def test_local_summarize_without_a_local_model_is_a_clear_error(
    server: FakeProviderServer,
) -> None:
    config = provider_config(server.providers["alpha"])
    config["providers"]["remote"] = {
        "protocol": "openai",
        "base_url": "http://remote.invalid/v1",
        "free": True,
        "models": ["remote-m"],
    }
    config["router"]["providers"] = ["remote"]
    llm = ChatOpenMux(config=config, classifier=_as_chat, fanout=2, combiner="local-summarize")
    with pytest.raises(NoProviderAvailable, match="local-summarize") as caught:
        llm.invoke("Explain")
    assert any("ollama" in hint.lower() for hint in caught.value.hints)
    assert server.providers["alpha"].hits == 0  # nothing was asked before the check


# -- partial and total failure -------------------------------------------------------------


def test_a_member_fails_over_to_its_model_elsewhere_then_to_a_spare(
    server: FakeProviderServer,
) -> None:
    server.providers["alpha"].fault = Fault.status(500)
    message = _llm(server, "alpha", "beta", fanout=2, combiner="concat").invoke("hi")
    # shared moves from alpha to beta; alpha-only (served nowhere else) to the unused beta-only.
    assert _members(message) == [("beta", "shared", "ok"), ("beta", "beta-only", "ok")]
    statuses = [(a["provider"], a["model"], a["status"]) for a in _meta(message)["attempts"]]
    assert ("alpha", "shared", "http_5xx") in statuses
    assert ("alpha", "alpha-only", "http_5xx") in statuses


def test_spare_models_are_not_shared_between_members(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.status(500)
    server.providers["beta"].fault = Fault.status(500)
    message = _llm(server, fanout=2, combiner="concat").invoke("hi")
    # Both members fall back to spares; gamma-only can answer for one of them only.
    statuses = sorted(m["status"] for m in _meta(message)["members"])
    assert statuses[0] == "http_5xx" and statuses[1] == "ok"
    assert server.providers["gamma"].hits == 1
    assert message.content == "[gamma:gamma-only]\nfrom gamma"


def test_partial_failure_is_reported_and_left_out(server: FakeProviderServer) -> None:
    server.providers["gamma"].fault = Fault.status(503)
    message = _llm(server, fanout=["alpha-only", "gamma-only"], combiner="concat").invoke("hi")
    members = _meta(message)["members"]
    assert members[0]["status"] == "ok"
    assert members[1] == {
        "provider": "gamma",
        "model": "gamma-only",
        "status": "http_5xx",
        "latency_ms": members[1]["latency_ms"],
        "content": None,
    }
    assert message.content == "[alpha:alpha-only]\nfrom alpha"
    assert _meta(message)["combiner"]["answers"] == 1


def test_min_answers(server: FakeProviderServer) -> None:
    server.providers["gamma"].fault = Fault.status(503)
    llm = _llm(server, fanout=["alpha-only", "gamma-only"], combiner="concat", min_answers=2)
    with pytest.raises(NoProviderAvailable, match="only 1 of 2") as caught:
        llm.invoke("hi")
    assert {a["provider"] for a in caught.value.attempts} == {"alpha", "gamma"}


def test_min_answers_no_fanout_can_meet_is_refused_before_any_request(
    server: FakeProviderServer,
) -> None:
    with pytest.raises(ConfigError, match="min_answers"):
        _llm(server, fanout=2, min_answers=3)
    with pytest.raises(ConfigError, match="min_answers"):
        _llm(server).invoke("hi", fanout=["alpha-only", "gamma-only"], min_answers=3)
    # Three models asked for, but only two distinct ones serve this request.
    llm = _llm(server, "alpha", fanout=3, combiner="concat", min_answers=3)
    with pytest.raises(NoProviderAvailable, match="min_answers is 3") as caught:
        llm.invoke("hi")
    assert "only 2 distinct models" in str(caught.value)
    assert all(p.hits == 0 for p in server.providers.values())


def test_all_members_failing_lists_every_attempt(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.status(500)
    server.providers["beta"].fault = Fault.status(401)
    llm = _llm(server, "alpha", "beta", fanout=2, combiner="vote")
    with pytest.raises(NoProviderAvailable, match="no member of the fan-out answered") as caught:
        llm.invoke("hi")
    seen = {(a["provider"], a["model"], a["status"]) for a in caught.value.attempts}
    assert ("alpha", "shared", "http_5xx") in seen
    assert ("alpha", "alpha-only", "http_5xx") in seen
    assert ("beta", "shared", "auth") in seen or ("beta", "beta-only", "auth") in seen
    assert "alpha:shared: http_5xx" in str(caught.value)


async def test_all_members_failing_async(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.status(500)
    llm = _llm(server, "alpha", fanout=2, combiner="concat")
    with pytest.raises(NoProviderAvailable, match="no member"):
        await llm.ainvoke("hi")


def test_all_members_failing_while_streaming(server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.status(500)
    llm = _llm(server, "alpha", fanout=2, combiner="summarize")
    with pytest.raises(NoProviderAvailable):
        list(llm.stream("hi"))


# Generous against a cold first call (client set-up), yet the hung member never answers.
_MEMBER_TIMEOUT = 3.0


def test_member_timeout_leaves_a_hung_member_out(server: FakeProviderServer) -> None:
    server.providers["gamma"].fault = Fault.hang()
    llm = _llm(
        server,
        fanout=["alpha-only", "gamma-only"],
        combiner="concat",
        member_timeout=_MEMBER_TIMEOUT,
        timeout=_MEMBER_TIMEOUT + 3,  # the hung call's thread ends soon after
    )
    llm.invoke("warm up", fanout=0, model="alpha-only")
    message = llm.invoke("hi")
    members = _meta(message)["members"]
    assert [m["status"] for m in members] == ["ok", "timeout"]
    assert members[1]["provider"] == "gamma"
    timeouts = [a for a in _meta(message)["attempts"] if a["status"] == "timeout"]
    assert timeouts and "member_timeout" in timeouts[0]["error"]


async def test_member_timeout_async(server: FakeProviderServer) -> None:
    server.providers["gamma"].fault = Fault.hang()
    llm = _llm(
        server,
        fanout=["alpha-only", "gamma-only"],
        combiner="vote",
        member_timeout=_MEMBER_TIMEOUT,
        timeout=_MEMBER_TIMEOUT + 3,  # the hung call's thread ends soon after
    )
    await llm.ainvoke("warm up", fanout=0, model="alpha-only")
    message = await llm.ainvoke("hi")
    assert [m["status"] for m in _meta(message)["members"]] == ["ok", "timeout"]
    assert message.content == "from alpha"


# -- surfaces ------------------------------------------------------------------------------


class _Collect(BaseCallbackHandler):
    def __init__(self) -> None:
        self.chains: list[str] = []
        self.tokens: list[str] = []

    def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
        self.chains.append(str(kwargs.get("name")))

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


def test_observed_runs_take_the_traced_path(server: FakeProviderServer) -> None:
    handler = _Collect()
    llm = _llm(server, fanout=2, combiner="summarize")
    message = llm.invoke("Explain", config={"callbacks": [handler]})
    assert message.content == "merged answer written by alpha from several drafts"
    assert "combine:summarize" in handler.chains and "fan_out" in handler.chains
    handler = _Collect()
    chunks = list(llm.stream("Explain", config={"callbacks": [handler]}))
    assert "".join(c.text for c in chunks) == message.content
    assert "".join(handler.tokens) == message.content


async def test_observed_runs_async(server: FakeProviderServer) -> None:
    handler = _Collect()
    llm = _llm(server, fanout=2, combiner="vote")
    message = await llm.ainvoke("hi", config={"callbacks": [handler]})
    assert message.content == "from alpha"
    chunks = [c async for c in llm.astream("hi", config={"callbacks": [handler]})]
    assert "".join(c.text for c in chunks) == "from alpha"


def test_batch(server: FakeProviderServer) -> None:
    messages = _llm(server, fanout=2, combiner="vote").batch(["one", "two", "three"])
    assert [m.content for m in messages] == ["from alpha"] * 3


def test_tools_with_vote_pick_one_members_tool_call(server: FakeProviderServer) -> None:
    @tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return "sunny"

    llm = _llm(server, fanout=2, combiner="vote").bind_tools([get_weather])
    message = llm.invoke("Weather in Paris?")
    assert isinstance(message, AIMessage) and message.tool_calls[0]["name"] == "get_weather"
    with pytest.raises(ConfigError, match="cannot combine tool calls"):
        _llm(server, fanout=2, combiner="concat").bind_tools([get_weather]).invoke("Weather?")


@pytest.mark.parametrize("combiner", ["concat", "summarize"])
def test_structured_output_with_a_combiner_that_rewrites_answers_is_refused(
    server: FakeProviderServer, combiner: str
) -> None:
    # Labelled or merged, the members' JSON answers would no longer be one JSON document.
    schema = {"title": "Person", "type": "object", "properties": {"name": {"type": "string"}}}
    llm = _llm(server, fanout=2, combiner=combiner)
    with pytest.raises(ConfigError, match="cannot combine structured output"):
        llm.with_structured_output(schema, method="json_schema").invoke("Alice is 30")
    with pytest.raises(ConfigError, match="cannot combine structured output"):
        llm.invoke("Alice is 30", response_format={"type": "json_object"})
    assert all(p.hits == 0 for p in server.providers.values())
    voted = _llm(server, fanout=2, combiner="vote").with_structured_output(
        schema, method="json_schema"
    )
    assert voted.invoke("Alice is 30")


def test_a_fanout_of_a_drawing_is_refused_rather_than_answered_with_prose(
    server: FakeProviderServer,
) -> None:
    config = provider_config(*(server.providers[n] for n in ("alpha", "beta")))
    config["providers"]["alpha"]["image_models"] = ["alpha-only"]
    llm = ChatOpenMux(config=config, task="image", fanout=2)
    with pytest.raises(ConfigError, match="fanout"):
        llm.invoke("draw a cat")
    with pytest.raises(ConfigError, match="fanout"):
        llm.invoke("draw a cat", config={"callbacks": [_Collect()]})
    with pytest.raises(ConfigError, match="fanout"):
        list(llm.stream("draw a cat"))
    assert server.providers["alpha"].hits == server.providers["beta"].hits == 0
    drawn = llm.invoke("draw a cat", fanout=0)  # one model draws it
    assert drawn.content[0]["type"] == "image"  # type: ignore[index]


@pytest.mark.parametrize(
    "options",
    [
        {"fanout": -1},
        {"fanout": []},
        {"fanout": 2, "combiner": "average"},
        {"fanout": 2, "min_answers": 0},
        {"fanout": 2, "member_timeout": -1},
        {"fanout": 2, "member_timeout": float("nan")},
        {"fanout": 2, "member_timeout": float("inf")},
    ],
)
def test_bad_options_fail_at_construction(
    server: FakeProviderServer, options: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError):
        _llm(server, **options)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"min_answers": "2"}, "min_answers"),
        ({"min_answers": 1.5}, "min_answers"),
        ({"member_timeout": "5"}, "member_timeout"),
        ({"member_timeout": True}, "member_timeout"),
        ({"combiner": ["vote"]}, "combiner"),
        ({"judge": 5}, "judge"),
    ],
)
def test_fanout_options_of_the_wrong_type_are_named_before_any_request(
    server: FakeProviderServer, options: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        _llm(server).invoke("hi", fanout=2, **options)
    with pytest.raises(ConfigError, match=named):
        _orchestrator(server).process("hi", fanout=2, **options)
    assert all(p.hits == 0 for p in server.providers.values())


@pytest.mark.parametrize("count", ["2", 2.5, True, None])
def test_process_multi_names_a_num_models_that_is_no_count(
    server: FakeProviderServer, count: Any
) -> None:
    with pytest.raises(ValueError, match="num_models"):
        _orchestrator(server).process_multi("hi", num_models=count)
    assert all(p.hits == 0 for p in server.providers.values())


def test_unknown_combiner_per_call(server: FakeProviderServer) -> None:
    with pytest.raises(ConfigError, match="unknown combiner"):
        _llm(server).invoke("hi", fanout=2, combiner="average")


# -- Orchestrator --------------------------------------------------------------------------


def _orchestrator(server: FakeProviderServer) -> Orchestrator:
    return Orchestrator(
        config=provider_config(*(server.providers[n] for n in ("alpha", "beta", "gamma"))),
        classifier=_as_chat,
    )


def test_orchestrator_process_with_fanout(server: FakeProviderServer) -> None:
    ANSWERS.update({"alpha:shared": "42", "alpha:alpha-only": "41", "beta": "42.0"})
    result = _orchestrator(server).process("6*7?", fanout=3, combiner="vote")
    assert result["response"] == "42" and result["combiner"]["agreement"] == 0.67
    assert len(result["members"]) == 3 and result["usage"]["total_tokens"] > 0
    for key in ("model", "provider", "task", "confidence", "reasoning", "latency_ms", "attempts"):
        assert key in result


def test_orchestrator_process_multi_maps_the_upstream_methods(
    server: FakeProviderServer,
) -> None:
    orchestrator = _orchestrator(server)
    merged = orchestrator.process_multi("hello", num_models=2, combination_method="merge")
    assert merged["combiner"]["name"] == "concat" and merged["combination_method"] == "merge"
    assert merged["responses"] == [
        {"model": "alpha:shared", "response": "from alpha", "error": None},
        {"model": "alpha:alpha-only", "response": "from alpha", "error": None},
    ]
    server.providers["beta"].fault = Fault.status(500)
    server.providers["gamma"].fault = Fault.status(500)
    partial = orchestrator.process_multi("hello", num_models=3, combination_method="merge")
    failed = partial["responses"][2]
    assert failed["model"] == "beta:beta-only" and failed["response"] is None
    assert failed["error"].startswith("http_5xx")


async def test_orchestrator_async_forms(server: FakeProviderServer) -> None:
    orchestrator = _orchestrator(server)
    summary = await orchestrator.aprocess_multi(
        "hello", num_models=2, combination_method="summarize"
    )
    assert summary["response"] == "merged answer written by alpha from several drafts"
    voted = await orchestrator.aprocess("hello", fanout=2, combiner="vote")
    assert voted["combiner"]["name"] == "vote"
    with pytest.raises(ValueError, match="combination_method"):
        orchestrator.process_multi("hello", combination_method="average")
