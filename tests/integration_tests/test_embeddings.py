"""OpenMuxEmbeddings: LangChain's standard suites, and one vector space per instance."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from openmux import NoProviderAvailable, OpenMuxEmbeddings
from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_config

PROVIDERS = {
    "first": dict(embedding_models=["e-shared", "e-first"]),
    "second": dict(embedding_models=["e-shared"]),
    "other": dict(embedding_models=["e-other"]),
    "ollama": dict(embedding_models=["nomic-embed-text"]),
}


class TestOpenMuxEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[OpenMuxEmbeddings]:
        return OpenMuxEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "e-1"}


class TestOpenMuxEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @pytest.fixture(autouse=True)
    def _point_at(self, server: FakeProviderServer) -> None:
        self._config = provider_config(server.providers["first"])

    @property
    def embeddings_class(self) -> type[OpenMuxEmbeddings]:
        return OpenMuxEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"config": self._config}


def test_fails_over_only_to_the_same_model(server: FakeProviderServer) -> None:
    config = provider_config(
        server.providers["first"], server.providers["second"], server.providers["other"]
    )
    embeddings = OpenMuxEmbeddings(config=config)
    first = embeddings.embed_query("hello")
    assert embeddings.model_id == "e-shared"
    server.providers["first"].fault = Fault.status(500)
    again = embeddings.embed_query("hello")
    assert again == first  # same model at another provider: same space
    server.providers["second"].fault = Fault.status(503)
    with pytest.raises(NoProviderAvailable, match="will not switch models") as caught:
        embeddings.embed_query("hello")
    assert {a["provider"] for a in caught.value.attempts} == {"first", "second"}
    assert server.providers["other"].hits == 0


async def test_async_embeddings(server: FakeProviderServer) -> None:
    embeddings = OpenMuxEmbeddings(config=provider_config(server.providers["other"]))
    vectors = await embeddings.aembed_documents(["a", "b"])
    assert len(vectors) == 2 and vectors[0] != vectors[1]
    assert await embeddings.aembed_query("a") == vectors[0]
    assert embeddings.model_id == "e-other"


def test_pinned_model_with_provider(server: FakeProviderServer) -> None:
    config = provider_config(server.providers["first"], server.providers["second"])
    embeddings = OpenMuxEmbeddings(config=config, model="second:e-shared")
    assert embeddings.model_id == "e-shared"
    embeddings.embed_query("x")
    assert server.providers["second"].hits_by_path


def test_ollama_embeddings_are_discovered(server: FakeProviderServer) -> None:
    config = provider_config(server.providers["ollama"], protocol="ollama")
    del config["providers"]["ollama"]["embedding_models"]
    embeddings = OpenMuxEmbeddings(config=config)
    assert len(embeddings.embed_query("hello")) > 0
    assert embeddings.model_id == "nomic-embed-text:latest"  # Ollama tags carry a version


def test_no_embedding_provider_explains() -> None:
    without_local = {"providers": {"local": {"enabled": False}}}
    with pytest.raises(NoProviderAvailable, match="no embedding model") as caught:
        OpenMuxEmbeddings(config=without_local).embed_query("x")
    assert any("MISTRAL_API_KEY" in hint for hint in caught.value.hints)


def test_unpinned_model_comes_from_the_configuration_not_from_luck(
    server: FakeProviderServer,
) -> None:
    # `first` lists e-shared first and is down this minute; `other` serves e-other.
    first, other = server.providers["first"], server.providers["other"]
    config = provider_config(first, other)
    first.fault = Fault.status(503)
    embeddings = OpenMuxEmbeddings(config=config)
    with pytest.raises(NoProviderAvailable, match="'e-shared'") as caught:
        embeddings.embed_query("hello")
    assert other.hits == 0  # e-other vectors would live in another space
    assert any('OpenMuxEmbeddings(model="PROVIDER:ID")' in hint for hint in caught.value.hints)
    # Another process with the same configuration, once `first` is back: the same model.
    first.fault = None
    again = OpenMuxEmbeddings(config=config)
    assert again.model_id == "e-shared"  # known before the first call
    assert again.embed_query("hello") and other.hits == 0


def test_llama_index_langchain_wrapper_accepts_an_unpinned_instance(
    server: FakeProviderServer,
) -> None:
    wrapper = pytest.importorskip("llama_index.embeddings.langchain")
    embeddings = OpenMuxEmbeddings(config=provider_config(server.providers["other"]))
    wrapped = wrapper.LangchainEmbedding(embeddings)
    assert wrapped.model_name == "e-other"
    assert wrapped.get_text_embedding("hello") == embeddings.embed_query("hello")


def test_prefer_and_exclude_choose_the_embedding_model(server: FakeProviderServer) -> None:
    config = provider_config(
        server.providers["first"], server.providers["second"], server.providers["other"]
    )
    assert OpenMuxEmbeddings(config=config, prefer=["other"]).model_id == "e-other"
    assert OpenMuxEmbeddings(config=config, exclude=["e-shared"]).model_id == "e-first"
    # Excluding one provider of the model leaves the other: failover stays in one space.
    embeddings = OpenMuxEmbeddings(config=config, exclude=["first"])
    embeddings.embed_query("hello")
    assert embeddings.model_id == "e-shared"
    assert server.providers["first"].hits == 0 and server.providers["second"].hits == 1
    # Preferring the second provider of the model sends its requests there first.
    embeddings = OpenMuxEmbeddings(config=config, prefer=["second:e-shared"])
    embeddings.embed_query("hello")
    assert server.providers["second"].hits == 2 and server.providers["first"].hits == 0


def test_embeddings_keep_to_the_attempt_budget(server: FakeProviderServer) -> None:
    config = provider_config(server.providers["first"], server.providers["second"])
    server.providers["first"].fault = Fault.status(500)
    server.providers["second"].fault = Fault.status(500)
    embeddings = OpenMuxEmbeddings(config=config, max_attempts=1)
    with pytest.raises(NoProviderAvailable, match="within the request's budget") as caught:
        embeddings.embed_query("hello")
    assert server.providers["second"].hits == 0
    assert len([a for a in caught.value.attempts if a["status"] != "ok"]) >= 1


async def test_texts_of_the_wrong_type_raise_at_once_and_bench_nothing(
    server: FakeProviderServer,
) -> None:
    embeddings = OpenMuxEmbeddings(config=provider_config(server.providers["first"]))
    mistakes: list[tuple[Any, str]] = [
        (lambda: embeddings.embed_documents("one text"), "list of strings, not a str"),
        (lambda: embeddings.embed_documents(["fine", 3]), r"texts\[1\] is of type int"),
        (lambda: embeddings.embed_query(None), "a string, not a NoneType"),
    ]
    for call, says in mistakes * 3:  # three bad answers in a row would bench a provider
        with pytest.raises(TypeError, match=says) as raised:
            call()
        assert "\n" not in str(raised.value)
    with pytest.raises(TypeError, match="list of strings"):
        await embeddings.aembed_documents("one text")
    with pytest.raises(TypeError, match="a string"):
        await embeddings.aembed_query(b"bytes")
    assert server.providers["first"].hits == 0
    assert embeddings.router.health.bench_of("first", "e-shared") is None
    assert len(embeddings.embed_documents(["one text"])) == 1


def test_text_that_is_no_unicode_is_refused_naming_where(server: FakeProviderServer) -> None:
    embeddings = OpenMuxEmbeddings(config=provider_config(server.providers["first"]))
    hits = server.providers["first"].hits
    for call in (
        lambda: embeddings.embed_documents(["fine", "caf\udce9"]),
        lambda: embeddings.embed_query("\ud800"),
    ):
        with pytest.raises(ValueError, match="surrogate") as raised:
            call()
        assert "\n" not in str(raised.value)
    assert server.providers["first"].hits == hits
