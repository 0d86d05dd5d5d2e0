"""OpenMux 0.2 code runs unchanged: its documented call forms against loopback fakes.

The forms are those of the `openmux` 0.2.2 package on PyPI (its README and its public
tests): `Orchestrator()`, `process(query, task_type=TaskType.CODE)`, `process_multi`,
the context manager and `cleanup()`, `TaskType.from_string`, and the per-call options
`provider_preference`, `max_retries` and `timeout`. Results stay this package's dicts.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from openmux import ConfigError, NoProviderAvailable, OpenMuxEmbeddings, Orchestrator, TaskType
from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_config, provider_toml, readme_blocks

PROVIDERS = {
    "alpha": dict(models=["a-1"], reply="from alpha", embedding_models=["embed-a"]),
    "beta": dict(models=["b-1"], reply="from beta"),
    "gamma": dict(models=["c-1"], reply="from gamma"),
}


@pytest.fixture
def configured(server: FakeProviderServer, clean_environment: Path) -> FakeProviderServer:
    """The fakes in ./openmux.toml, so that `Orchestrator()` takes no argument, as in 0.2."""
    text = provider_toml(*server.providers.values())
    (clean_environment / "openmux.toml").write_text(text, encoding="utf-8")
    return server


def test_quick_start_as_documented(configured: FakeProviderServer) -> None:
    orchestrator = Orchestrator()
    response = orchestrator.process("What is Python?")
    assert response["response"] == "from alpha"
    code_response = orchestrator.process("Write a fibonacci function", task_type=TaskType.CODE)
    assert code_response["task"] == "code"
    combined = orchestrator.process_multi(
        query="Explain quantum computing", num_models=2, combination_method="summarize"
    )
    assert combined["combination_method"] == "summarize" and combined["response"]
    assert len(combined["responses"]) == 2


def test_keyword_query_and_task_names(configured: FakeProviderServer) -> None:
    # 0.2's CLI: `orchestrator.process(query=text, task_type=TaskType.from_string(name))`.
    assert TaskType.from_string("CODE") is TaskType.CODE
    assert TaskType.from_string("chat") is TaskType.CHAT
    with pytest.raises(ValueError, match="valid types: chat, code"):
        TaskType.from_string("video")
    result = Orchestrator().process(query="hi", task_type=TaskType.from_string("Chat"))
    assert result["task"] == "chat" and result["response"] == "from alpha"


def test_context_manager_and_cleanup(configured: FakeProviderServer) -> None:
    with Orchestrator() as orchestrator:
        assert orchestrator.process("Hello", task_type=TaskType.CHAT)["response"]
    orchestrator.cleanup()
    orchestrator.close()  # twice is harmless
    # As in 0.2, a cleaned-up orchestrator still answers: it rebuilds what it needs.
    assert orchestrator.process("Hello", task_type=TaskType.CHAT, timeout=30)["response"]


def test_provider_preference_orders_providers(configured: FakeProviderServer) -> None:
    orchestrator = Orchestrator()
    assert orchestrator.process("hi", task_type="chat")["provider"] == "alpha"
    preferred = orchestrator.process("hi", task_type="chat", provider_preference=["gamma"])
    assert preferred["provider"] == "gamma"
    # The others stay behind it as fallbacks, as in 0.2.
    configured.providers["gamma"].fault = Fault.status(500)
    fallback = orchestrator.process("hi", task_type="chat", provider_preference=["gamma"])
    # (a 500 is retried once on the same provider before failing over)
    assert [a["provider"] for a in fallback["attempts"]] == ["gamma", "gamma", "alpha"]
    with pytest.raises(ConfigError, match="did you mean `gamma`"):
        orchestrator.process("hi", task_type="chat", provider_preference=["gama"])


def test_max_retries_bounds_the_attempts(configured: FakeProviderServer) -> None:
    for provider in configured.providers.values():
        provider.fault = Fault.status(500)
    with pytest.raises(NoProviderAvailable) as caught:
        Orchestrator().process("hi", task_type="chat", max_retries=1)
    # Two attempts in all: the first and the one retry (here alpha's own, for a 500).
    assert len(caught.value.attempts) == 2
    assert configured.providers["gamma"].hits == 0


def test_timeout_is_the_request_budget(server: FakeProviderServer) -> None:
    alpha, beta = server.providers["alpha"], server.providers["beta"]
    config = provider_config(alpha, beta)
    config["router"]["hedge_after_ms"] = False  # one provider at a time
    orchestrator = Orchestrator(config=config)
    orchestrator.process("hi", task_type="chat")  # first imports count against a budget too
    alpha.latency = 60
    with pytest.raises(NoProviderAvailable, match="budget") as caught:
        orchestrator.process("hi", task_type="chat", timeout=3)
    assert [a["status"] for a in caught.value.attempts] == ["timeout"]
    # Without the budget, alpha's first-token wait (20 s) would end in failover to beta.
    assert beta.hits == 0


def test_embeddings_task_returns_vectors(configured: FakeProviderServer) -> None:
    result = Orchestrator().process("some text", task_type="embeddings")
    config = provider_config(*configured.providers.values())
    assert result["response"] == OpenMuxEmbeddings(config=config).embed_query("some text")
    assert result["task"] == "embeddings" and result["model"] == "embed-a"
    both = Orchestrator().process(["one", "two"], task_type=TaskType.EMBEDDINGS)
    assert len(both["response"]) == 2 and isinstance(both["response"][0][0], float)
    assert set(configured.providers["alpha"].hits_by_path) == {"/v1/embeddings"}  # no chat
    with pytest.raises(TypeError, match="max_retries does not apply to task_type='embeddings'"):
        Orchestrator().process("some text", task_type="embeddings", max_retries=2)


def test_an_embeddings_result_names_who_answered_and_every_attempt(
    server: FakeProviderServer,
) -> None:
    alpha = server.providers["alpha"]
    other = server.add_provider("delta", models=["d-1"], embedding_models=["embed-a"])
    alpha.fault = Fault.status(500)
    orchestrator = Orchestrator(config=provider_config(alpha, other))
    results = [
        orchestrator.process("some text", task_type="embeddings"),
        asyncio.run(orchestrator.aprocess(["one", "two"], task_type="embeddings")),
    ]
    for result in results:
        assert (result["provider"], result["model"]) == ("delta", "embed-a")
        statuses = [(a["provider"], a["status"]) for a in result["attempts"]]
        assert statuses[0] == ("alpha", "http_5xx") and statuses[-1] == ("delta", "ok")


def test_unknown_keyword_is_a_type_error_before_any_request(
    configured: FakeProviderServer,
) -> None:
    orchestrator = Orchestrator()
    with pytest.raises(
        TypeError, match=r"'provider_preferences'.*did you mean `provider_preference`"
    ):
        orchestrator.process("hi", provider_preferences=["beta"])
    with pytest.raises(TypeError, match="did you mean `max_retries`"):
        orchestrator.process_multi("hi", max_retry=2)
    assert all(p.hits == 0 for p in configured.providers.values())


@pytest.mark.parametrize("query", [None, 7, b"hi", {"role": "user", "content": "hi"}, [3.5]])
def test_a_query_that_is_no_text_or_messages_is_one_clear_error(
    configured: FakeProviderServer, query: object
) -> None:
    orchestrator = Orchestrator()
    for ask in (orchestrator.process, orchestrator.process_multi):
        with pytest.raises(ValueError, match="a text, a list of messages or a PromptValue"):
            ask(query)
    assert all(p.hits == 0 for p in configured.providers.values())


def test_readme_example(
    configured: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The README names groq: here it is one of the fakes, reached with a test key.
    groq = configured.add_provider("groq", models=["g-1"], reply="from groq")
    monkeypatch.setenv("GROQ_API_KEY", "gsk_readme_example_000000")
    text = provider_toml(*configured.providers.values())
    (Path.cwd() / "openmux.toml").write_text(text, encoding="utf-8")
    [example] = readme_blocks("Coming from OpenMux 0.2", "python")
    exec(compile(example, "README.md", "exec"), {})
    assert capsys.readouterr().out == "from groq\n"
    assert groq.hits_by_path == {"/v1/chat/completions": 1}


async def test_async_forms(configured: FakeProviderServer) -> None:
    orchestrator = Orchestrator()
    vector = (await orchestrator.aprocess("some text", task_type="embeddings"))["response"]
    assert (
        vector
        == (await orchestrator.aprocess(["some text"], task_type="embeddings"))["response"][0]
    )
    answer = await orchestrator.aprocess("hi", task_type="chat", provider_preference=["beta"])
    assert answer["provider"] == "beta"
    with pytest.raises(TypeError, match="did you mean `timeout`"):
        await orchestrator.aprocess("hi", timeuot=3)
