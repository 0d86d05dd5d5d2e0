"""Local servers (Ollama, LM Studio, llama.cpp) found through their host variables."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from openmux import ChatOpenMux, TaskClassification, TaskType
from openmux.config import load_settings
from openmux.providers import LocalDiscovery
from openmux.testing import FakeProviderServer, Fault


def _as_chat(_: object) -> TaskClassification:
    return TaskClassification(TaskType.CHAT, 0.9, [], "fixed for the test")


@pytest.fixture
def servers(
    fake_provider_server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeProviderServer]:
    ollama = fake_provider_server.add_provider("ollama", models=["llama3.2"], reply="from ollama")
    lmstudio = fake_provider_server.add_provider(
        "lmstudio", models=["qwen2.5-7b-instruct"], reply="from lmstudio"
    )
    llamacpp = fake_provider_server.add_provider(
        "llamacpp", models=["model.gguf"], reply="from llamacpp"
    )
    monkeypatch.setenv("OLLAMA_HOST", ollama.ollama_base_url.removeprefix("http://"))
    monkeypatch.setenv("LMSTUDIO_BASE_URL", lmstudio.base_url)
    monkeypatch.setenv("LLAMACPP_BASE_URL", llamacpp.base_url)
    yield fake_provider_server


def test_discovery_lists_each_server(servers: FakeProviderServer) -> None:
    settings = load_settings()
    local = [settings.providers[n] for n in ("ollama", "lmstudio", "llamacpp")]
    found = LocalDiscovery().models(local)
    assert found == {
        "ollama": ["llama3.2:latest"],
        "lmstudio": ["qwen2.5-7b-instruct"],
        "llamacpp": ["model.gguf"],
    }


def test_probes_of_absent_servers_are_parallel_and_short(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (
        ("OLLAMA_HOST", "127.0.0.1:9"),
        ("LMSTUDIO_BASE_URL", "http://127.0.0.1:9/v1"),
        ("LLAMACPP_BASE_URL", "http://127.0.0.1:9/v1"),
    ):
        monkeypatch.setenv(name, value)
    settings = load_settings()
    local = [settings.providers[n] for n in ("ollama", "lmstudio", "llamacpp")]
    assert LocalDiscovery().models(local) == {"ollama": None, "lmstudio": None, "llamacpp": None}


def test_router_uses_local_servers_in_provider_order(servers: FakeProviderServer) -> None:
    llm = ChatOpenMux(
        providers=["ollama", "lmstudio", "llamacpp"], strategy="ordered", classifier=_as_chat
    )
    message = llm.invoke("hi")
    meta = message.response_metadata["openmux"]
    assert (meta["provider"], meta["model"]) == ("ollama", "llama3.2:latest")
    assert message.text.startswith("from ollama")
    streamed = "".join(c.text for c in llm.stream("hi", provider="lmstudio"))
    assert streamed.startswith("from lmstudio")


def test_llamacpp_loading_is_not_used_until_ready(servers: FakeProviderServer) -> None:
    servers.providers["llamacpp"].fault = Fault.loading(on_listing=True)
    llm = ChatOpenMux(providers=["llamacpp", "lmstudio"], strategy="ordered", classifier=_as_chat)
    message = llm.invoke("hi")
    assert message.response_metadata["openmux"]["provider"] == "lmstudio"
    servers.providers["llamacpp"].fault = Fault.loading()
    fresh = ChatOpenMux(providers=["llamacpp", "lmstudio"], strategy="ordered", classifier=_as_chat)
    attempts = fresh.invoke("hi").response_metadata["openmux"]["attempts"]
    assert attempts[0]["provider"] == "llamacpp" and attempts[0]["status"] == "http_5xx"
    assert attempts[-1]["provider"] == "lmstudio"


def test_a_server_started_later_is_found(
    fake_provider_server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openmux.providers._discovery as discovery

    monkeypatch.setattr(discovery, "CACHE_SECONDS", 0.0)
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")
    settings = load_settings()
    probe = LocalDiscovery()
    assert probe.models([settings.providers["ollama"]]) == {"ollama": None}
    ollama = fake_provider_server.add_provider("ollama", models=["phi3"])
    monkeypatch.setenv("OLLAMA_HOST", ollama.ollama_base_url)
    settings = load_settings()
    probe.forget("ollama")
    assert probe.models([settings.providers["ollama"]]) == {"ollama": ["phi3:latest"]}


@pytest.mark.parametrize("interval", [0.1, 0.0], ids=["drips", "floods"])
def test_a_model_listing_that_never_ends_is_given_up_on(
    servers: FakeProviderServer, interval: float
) -> None:
    """A server whose model list keeps arriving (a few bytes at a time, or gigabytes) is
    one that does not answer: the probe, on the request's path, has a time of its own."""
    servers.providers["ollama"].fault = Fault.endless(interval, seconds=30, on_listing=True)
    llm = ChatOpenMux(providers=["ollama", "lmstudio"], strategy="ordered", classifier=_as_chat)
    started = time.monotonic()
    message = llm.invoke("hi")
    assert message.response_metadata["openmux"]["provider"] == "lmstudio"
    assert time.monotonic() - started < 10


def test_listed_ids_no_model_has_are_left_out(servers: FakeProviderServer) -> None:
    servers.providers["lmstudio"].models = ["qwen2.5-7b-instruct", "evil\x1b[2J", "two\nlines"]
    settings = load_settings()
    found = LocalDiscovery().models([settings.providers["lmstudio"]])
    assert found == {"lmstudio": ["qwen2.5-7b-instruct"]}
