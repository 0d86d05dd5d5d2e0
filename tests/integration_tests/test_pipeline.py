"""One pipeline: every run form answers alike, and every surface goes through one select.

Parity: invoke, ainvoke, stream, astream and batch, for a single request and a fan-out,
observed (a callback handler is attached, so the traced graph of LangChain Runnables
runs) and unobserved (the stages are called in sequence) give the same message and the
same metadata. The divergences the one `select` removed: fan-out honours the offline
check; embeddings honour benching, PII scrubbing, the audit log and the offline check.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.prompt_values import ChatPromptValue

from openmux import (
    ChatOpenMux,
    NoProviderAvailable,
    OpenMuxEmbeddings,
    TaskClassification,
    TaskType,
)
from openmux.config import load_settings
from openmux.routing import Router, RouteRequest, embed_candidate, select
from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_config

_VOLATILE = {"latency_ms"}


PROVIDERS = {
    "alpha": dict(models=["a-1"], reply="from alpha", embedding_models=["e-1"]),
    "beta": dict(models=["b-1"], reply="from beta", embedding_models=["e-1"]),
}


class _Seen(BaseCallbackHandler):
    def __init__(self) -> None:
        self.starts = 0

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.starts += 1


def _as_chat(_: Any) -> TaskClassification:
    return TaskClassification(TaskType.CHAT, 0.9, [], "fixed for the test")


def _stable(meta: dict[str, Any]) -> dict[str, Any]:
    """The metadata without timings, which differ from run to run."""
    out = {k: v for k, v in meta.items() if k not in _VOLATILE}
    out["attempts"] = [{k: v for k, v in a.items() if k not in _VOLATILE} for a in meta["attempts"]]
    if "members" in out:
        out["members"] = [
            {k: v for k, v in m.items() if k not in _VOLATILE} for m in meta["members"]
        ]
    return out


def _merged(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    return merged


def _run(llm: ChatOpenMux, form: str, config: dict[str, Any]) -> BaseMessage:
    if form == "invoke":
        return llm.invoke("hello", config)
    if form == "ainvoke":
        return asyncio.run(llm.ainvoke("hello", config))
    if form == "stream":
        return _merged(list(llm.stream("hello", config)))
    if form == "astream":

        async def collect() -> list[AIMessageChunk]:
            return [chunk async for chunk in llm.astream("hello", config)]

        return _merged(asyncio.run(collect()))
    if form == "batch":
        return llm.batch(["hello"], config)[0]
    raise AssertionError(form)


@pytest.mark.parametrize("form", ["invoke", "ainvoke", "stream", "astream", "batch"])
@pytest.mark.parametrize("fanout", [0, 2])
def test_observed_and_unobserved_runs_answer_alike(
    server: FakeProviderServer, form: str, fanout: int
) -> None:
    config = provider_config(server.providers["alpha"], server.providers["beta"])
    llm = ChatOpenMux(config=config, classifier=_as_chat, fanout=fanout, combiner="concat")
    quiet = _run(llm, form, {})
    seen = _Seen()
    traced = _run(llm, form, {"callbacks": [seen]})
    assert seen.starts == 1  # the observed run really took the traced path
    assert quiet.content == traced.content and quiet.content
    assert _stable(quiet.response_metadata["openmux"]) == _stable(
        traced.response_metadata["openmux"]
    )
    assert isinstance(quiet, AIMessage) and isinstance(traced, AIMessage)
    assert (quiet.usage_metadata is None) == (traced.usage_metadata is None)


@pytest.mark.parametrize(
    "given",
    [None, 42, 1.5, b"hello", {"role": "user", "content": "hi"}, [1, 2]],
    ids=["None", "int", "float", "bytes", "one message as a dict", "a list of numbers"],
)
@pytest.mark.parametrize("form", ["invoke", "ainvoke", "stream"])
@pytest.mark.parametrize("observed", [False, True])
def test_an_input_that_is_no_text_or_messages_is_refused_alike(
    server: FakeProviderServer, given: Any, form: str, observed: bool
) -> None:
    llm = ChatOpenMux(config=provider_config(server.providers["alpha"]), classifier=_as_chat)
    config: Any = {"callbacks": [_Seen()]} if observed else {}
    runs = {
        "invoke": lambda: llm.invoke(given, config),
        "ainvoke": lambda: asyncio.run(llm.ainvoke(given, config)),
        "stream": lambda: list(llm.stream(given, config)),
    }
    with pytest.raises(ValueError, match=r"a text, a list of messages or a PromptValue") as error:
        runs[form]()
    assert "\n" not in str(error.value) and "https://" not in str(error.value)
    assert server.providers["alpha"].hits == 0


@pytest.mark.parametrize("fanout", [0, 2])
def test_a_conversation_without_a_message_is_refused_before_any_provider(
    server: FakeProviderServer, fanout: int
) -> None:
    # Providers refuse an empty conversation (400): each one asked would spend a request
    # of its free allowance on the caller's mistake.
    config = provider_config(server.providers["alpha"], server.providers["beta"])
    llm = ChatOpenMux(config=config, classifier=_as_chat, fanout=fanout, combiner="concat")
    for empty in ([], ChatPromptValue(messages=[])):
        with pytest.raises(ValueError, match="no message"):
            llm.invoke(empty)
        with pytest.raises(ValueError, match="no message"):
            list(llm.stream(empty, {"callbacks": [_Seen()]}))
    assert server.providers["alpha"].hits == server.providers["beta"].hits == 0


def test_fanout_members_skip_an_unreachable_remote(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline, a plain call goes straight to the local models: fan-out members too."""
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-offline-test-000")
    config = provider_config(server.providers["alpha"], server.providers["beta"])
    config["router"]["providers"] = ["openrouter", "alpha", "beta"]
    config["providers"]["openrouter"] = {"base_url": "https://no-such-host.invalid/api/v1"}
    llm = ChatOpenMux(config=config, classifier=_as_chat, fanout=2, combiner="concat")
    meta = llm.invoke("hello").response_metadata["openmux"]
    assert meta["offline"] is True
    assert {a["provider"] for a in meta["attempts"]} == {"alpha", "beta"}
    assert all(a["status"] == "ok" for a in meta["attempts"])


def test_embeddings_respect_a_bench(server: FakeProviderServer) -> None:
    alpha = server.providers["alpha"]
    alpha.fault = Fault.status(429, retry_after=30)
    config = provider_config(alpha, server.providers["beta"])
    first = OpenMuxEmbeddings(config=config)
    assert first.embed_query("x")
    assert alpha.hits == 1
    # Another instance (and process sharing the state dir) sends nothing to a benched model.
    second = OpenMuxEmbeddings(config=config)
    assert second.embed_documents(["y", "z"])
    assert alpha.hits == 1 and second.model_id == "e-1"


def test_embeddings_are_audited(server: FakeProviderServer, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    config = provider_config(server.providers["alpha"])
    config["privacy"] = {"audit_log": str(log)}
    OpenMuxEmbeddings(config=config).embed_query("a secret prompt")
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["provider"], r["model"], r["status"], r["task"]) for r in records] == [
        ("alpha", "e-1", "ok", "embeddings")
    ]
    assert "a secret prompt" not in log.read_text()


def test_embeddings_scrub_pii_for_a_remote_provider(server: FakeProviderServer) -> None:
    alpha = server.providers["alpha"]
    config = provider_config(alpha)
    config["privacy"] = {"scrub_pii": True}
    settings = load_settings(config)
    # The fake listens on loopback; this provider is treated as a remote one.
    remote = replace(settings.providers["alpha"], local=False)
    router = Router(replace(settings, providers={**settings.providers, "alpha": remote}))
    request = RouteRequest(messages=[], output="embeddings")
    (candidate,) = select(router, request)
    texts = ["mail me at jane.doe@example.com"]
    embed_candidate(router, candidate, request, texts, lambda m, sent: m.embed_documents(sent))
    sent = json.dumps(alpha.last_request.json if alpha.last_request else None)
    assert "jane.doe@example.com" not in sent and "mail me at" in sent


def test_embeddings_offline_use_local_providers_only(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "mistral-offline-test-000")
    config = provider_config(server.providers["alpha"])
    config["router"]["providers"] = ["mistral", "alpha"]
    config["providers"]["mistral"] = {"base_url": "https://no-such-host.invalid/v1"}
    # The configuration names mistral-embed: offline, that is an error, never e-1 vectors.
    with pytest.raises(NoProviderAvailable, match=r"'mistral-embed' is reachable \(offline"):
        OpenMuxEmbeddings(config=config).embed_query("x")
    assert server.providers["alpha"].hits == 0
    pinned = OpenMuxEmbeddings(config=config, model="alpha:e-1")
    assert pinned.embed_query("x") and pinned.model_id == "e-1"


def test_embeddings_never_call_a_paid_model(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = provider_config(server.providers["alpha"])
    config["providers"]["alpha"]["free"] = False
    with pytest.raises(NoProviderAvailable) as error:
        OpenMuxEmbeddings(config=config).embed_query("x")
    assert server.providers["alpha"].hits == 0
    assert [a["status"] for a in error.value.attempts] == ["not_free"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"router": {"providers": []}}, "providers = []"),
        ({"router": {"exclude": ["alpha", "beta"]}}, "exclude"),
        ({"providers": {"alpha": {"models": []}, "beta": {"models": []}}}, "models = []"),
        ({"timeouts": {"total": 0.0001}}, "timeouts.total"),
    ],
    ids=["no providers", "everything excluded", "no models", "tiny total timeout"],
)
def test_no_candidate_names_the_setting_that_ruled_them_out(
    server: FakeProviderServer, change: dict[str, Any], named: str
) -> None:
    config = provider_config(server.providers["alpha"], server.providers["beta"])
    for table, values in change.items():
        if table == "providers":
            for name, fields in values.items():
                config["providers"][name].update(fields)
        else:
            config.setdefault(table, {}).update(values)
    with pytest.raises(NoProviderAvailable) as error:
        ChatOpenMux(config=config, classifier=_as_chat).invoke("hello")
    assert named in str(error.value)
    assert "OPENROUTER_API_KEY" not in str(error.value)
    assert server.providers["alpha"].hits == 0 and server.providers["beta"].hits == 0
