"""The semantic cache with the bundled multilingual embedding model (in process, offline).

A reworded request in the same scope is answered from the earlier one; a near miss
(another number, a negation, another language to translate into, another entity, code
instead of prose) is not, whatever its similarity. benchmarks/cache.py measures the
rates on the labelled pairs; these are its cases one by one.
"""

from __future__ import annotations

from typing import Any

import pytest

from openmux import ChatOpenMux
from openmux.local import local_embeddings_available
from openmux.testing import FakeProviderServer
from tests.helpers import provider_config

pytestmark = pytest.mark.skipif(
    not local_embeddings_available(), reason="the bundled embedding model is not installed"
)

PROVIDERS = {"alpha": {"models": ["a-1"]}}


def semantic(server: FakeProviderServer, **cache: Any) -> ChatOpenMux:
    config = provider_config(server.providers["alpha"])
    config["cache"] = {"mode": "semantic", **cache}
    return ChatOpenMux(config=config)


def cached(message: Any) -> bool:
    return bool(message.response_metadata["openmux"]["cached"])


REWORDED = [
    ("What is the capital of France?", "What's the capital of France?"),
    ("How do I reverse a list in Python?", "How can I reverse a list in Python?"),
    ("¿Cómo invierto una lista en Python?", "¿Cómo puedo invertir una lista en Python?"),
    ("什么是光合作用？", "光合作用是什么？"),  # noqa: RUF001
]
NEAR_MISSES = [
    ("Convert 5 km to miles.", "Convert 50 km to miles."),
    ("List fruits that are red.", "List fruits that are not red."),
    ('Translate "good morning" into Spanish.', 'Translate "good morning" into French.'),
    ('Traduza "bom dia" para o inglês.', 'Traduza "bom dia" para o alemão.'),
    ("What is the capital of France?", "What is the capital of Germany?"),
    ("Explain how a cat sees colors.", "Explain how a dog sees colors."),
    (
        "Write a Python function that reverses a string.",
        "Explain in words how to reverse a string.",
    ),
]


@pytest.mark.parametrize(("earlier", "later"), REWORDED)
def test_a_reworded_request_is_a_hit(server: FakeProviderServer, earlier: str, later: str) -> None:
    llm = semantic(server)
    first = llm.invoke(earlier)
    again = llm.invoke(later)
    assert cached(again) and again.content == first.content
    assert server.providers["alpha"].hits == 1


@pytest.mark.parametrize(("earlier", "later"), NEAR_MISSES)
def test_a_near_miss_is_not_a_hit(server: FakeProviderServer, earlier: str, later: str) -> None:
    llm = semantic(server)
    llm.invoke(earlier)
    assert not cached(llm.invoke(later))
    assert server.providers["alpha"].hits == 2


def test_a_similarity_of_one_keeps_to_exact_matches(server: FakeProviderServer) -> None:
    llm = semantic(server, similarity=1.0)
    llm.invoke("What is the capital of France?")
    assert not cached(llm.invoke("What's the capital of France?"))
    assert cached(llm.invoke("What is the capital of France?"))


def test_only_requests_of_the_same_scope_are_compared(server: FakeProviderServer) -> None:
    llm = semantic(server)
    llm.invoke("What is the capital of France?")
    assert not cached(llm.invoke("What's the capital of France?", temperature=0.2))
    assert not cached(llm.invoke(["Answer in one word.", "What's the capital of France?"]))
    assert server.providers["alpha"].hits == 3


def test_a_long_text_is_matched_exactly_only(server: FakeProviderServer) -> None:
    llm = semantic(server)
    document = "Summarize this report. " + "Sales rose in every region this quarter. " * 20
    llm.invoke(document + "Costs fell.")
    assert not cached(llm.invoke(document + "Costs rose."))
    assert cached(llm.invoke(document + "Costs rose."))
