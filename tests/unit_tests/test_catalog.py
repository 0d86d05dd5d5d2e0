"""The bundled snapshot, id normalisation, the SQLite cache and its recovery, offline start."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from openmux.catalog import Catalog, CatalogStore, Listing, Offer, bundled, catalog_for, normalize
from openmux.config import load_settings
from openmux.providers import BUILTIN_PROVIDERS
from tests.helpers import run_child


def test_bundled_scores_name_source_and_date() -> None:
    data = bundled()
    assert data.snapshot and len(data.models) >= 25
    for model in data.models:
        for task, score in model.scores.items():
            assert task in ("chat", "code", "vision"), model.id
            assert score.source and score.date[:2] == "20", (model.id, task)
            assert score.metric in ("MMLU-Pro", "Aider polyglot", "MMMU (val)")
            if score.estimate:
                assert score.source.startswith("estimate:"), (model.id, task)
            assert 0 < score.value <= 100


def test_bundled_offers_name_known_models_and_cover_the_table_defaults() -> None:
    data = bundled()
    models = {m.id for m in data.models}
    for provider, offers in data.offers.items():
        for offer in offers:
            assert offer.model in models, (provider, offer.id)
    for spec in BUILTIN_PROVIDERS:
        listed = {o.id for o in data.offers.get(spec.name, ())}
        if spec.local:
            continue  # local servers list their own models
        for entry in spec.models:
            assert entry.id in listed, (spec.name, entry.id)
        for embedding in spec.embedding_models:
            assert embedding in listed, (spec.name, embedding)


def test_bundled_offers_agree_with_the_table_flags() -> None:
    catalog = Catalog(bundled().models, bundled().offers)
    settings = load_settings()
    for spec in BUILTIN_PROVIDERS:
        provider = settings.providers[spec.name]
        for entry in spec.models:
            if spec.local:
                continue
            facts = catalog.resolve(provider, entry.id, entry)
            assert (facts.vision, facts.tools) == (entry.vision, entry.tools), entry.id


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("meta-llama/llama-3.3-70b-instruct:free", "llama-3.3-70b-instruct"),
        ("llama-3.3-70b-versatile", "llama-3.3-70b-instruct"),
        ("meta/Llama-3.3-70B-Instruct", "llama-3.3-70b-instruct"),
        ("llama3.3:70b", "llama-3.3-70b-instruct"),
        ("qwen2.5-coder:32b", "qwen2.5-coder-32b-instruct"),
        ("Qwen/Qwen2.5-Coder-32B-Instruct", "qwen2.5-coder-32b-instruct"),
        ("qwen-3-32b", "qwen3-32b"),
        ("gemma3:27b", "gemma-3-27b-it"),
        ("models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("codestral-latest", "codestral-2501"),
        ("qwen2.5-coder", None),  # the 7B default tag: not the 32B model
        ("my-finetune", None),
    ],
)
def test_ids_link_to_catalog_models(spelling: str, canonical: str | None) -> None:
    catalog = Catalog(bundled().models, bundled().offers)
    assert catalog.canonical(spelling) == canonical


def test_normalize() -> None:
    assert normalize("meta-llama/Llama-3.3-70B-Instruct:free") == "llama3.370b"
    assert normalize("llama3.1-8b") == normalize("llama-3.1-8b-instant")


def test_unknown_models_get_the_design_assumptions() -> None:
    catalog = Catalog(bundled().models, bundled().offers)
    provider = load_settings().providers["groq"]
    facts = catalog.resolve(provider, "brand-new-model")
    assert facts.chat and facts.tools and facts.json_mode
    assert not facts.vision and facts.context_length is None
    assert not catalog.resolve(provider, "some-embed-model").chat


def test_offline_start_uses_the_bundled_snapshot(clean_environment: Path) -> None:
    """No network and no cache file: the first selection loads the packaged snapshot."""
    from openmux.health import health_store
    from openmux.routing import RouteRequest, select_candidates

    settings = load_settings(
        {"router": {"providers": ["openrouter"]}}, api_keys={"openrouter": "sk-or-test-key-000"}
    )
    assert settings.state_dir is not None and not (settings.state_dir / "catalog.sqlite3").exists()
    request = RouteRequest(messages=[HumanMessage("hi")], task="code")
    from openmux.classifier import TaskClassification, TaskType

    request.classification = TaskClassification(TaskType.CODE, 1.0, [], "fixed")
    candidates = select_candidates(
        request,
        settings,
        {},
        catalog=catalog_for(settings.state_dir),
        health=health_store(settings.state_dir),
    )
    assert candidates and "Aider polyglot" in candidates[0].reason
    assert all(c.model.id.endswith(":free") for c in candidates)
    assert catalog_for(settings.state_dir).snapshot == bundled().snapshot


def test_import_openmux_loads_no_catalog() -> None:
    code = "import sys, openmux\nprint(any('openmux.catalog' in m for m in sys.modules))"
    out = run_child([sys.executable, "-c", code], check=True)
    assert out.stdout.strip() == "False"


def _listing(provider: str, *ids: str) -> Listing:
    offers = tuple(Offer(provider, i, source="refreshed") for i in ids)
    return Listing(provider, "http://127.0.0.1:9/v1", 1_700_000_000.0, offers)


def test_cache_round_trip_and_failure_keeps_the_last_good(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    store = CatalogStore(path)
    store.save(_listing("alpha", "m1", "m2"))
    store.mark_failed("alpha", "http://127.0.0.1:9/v1", "HTTP 500", 1_700_000_100.0)
    loaded = CatalogStore(path).load()["alpha"]
    assert [o.id for o in loaded.offers] == ["m1", "m2"]
    assert loaded.fetched == 1_700_000_000.0 and loaded.last_error == "HTTP 500"


@pytest.mark.parametrize(
    "garbage",
    [b"this is not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 4000, b""],
    ids=["text", "damaged-header", "empty"],
)
def test_a_corrupt_cache_file_is_rebuilt(tmp_path: Path, garbage: bytes) -> None:
    path = tmp_path / "catalog.sqlite3"
    path.write_bytes(garbage)
    store = CatalogStore(path)
    assert store.load() == {}
    store.save(_listing("alpha", "m1"))
    assert [o.id for o in CatalogStore(path).load()["alpha"].offers] == ["m1"]
    assert store.recovered == bool(garbage)


def test_a_corrupt_row_falls_back_to_the_bundled_snapshot(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "catalog.sqlite3"
    CatalogStore(path).save(_listing("groq", "x"))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE listings SET offers = '{not json'")
    store = CatalogStore(path)
    catalog = Catalog(bundled().models, bundled().offers, store)
    groq = load_settings().providers["groq"]
    assert "llama-3.3-70b-versatile" in catalog.offers_of(groq)


def test_selection_survives_a_corrupt_cache_in_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openmux.health import health_store
    from openmux.routing import RouteRequest, select_candidates

    state = tmp_path / "corrupt-state"
    state.mkdir()
    (state / "catalog.sqlite3").write_bytes(b"garbage" * 1000)
    monkeypatch.setenv("OPENMUX_STATE_DIR", str(state))
    settings = load_settings(
        {"router": {"providers": ["groq"]}}, api_keys={"groq": "gsk_test_key_000"}
    )
    candidates = select_candidates(
        RouteRequest(messages=[HumanMessage("hi")]),
        settings,
        {},
        catalog=catalog_for(settings.state_dir),
        health=health_store(settings.state_dir),
    )
    assert "groq:llama-3.3-70b-versatile" in [f"{c.provider.name}:{c.model.id}" for c in candidates]
    assert (state / "catalog.sqlite3.corrupt").exists()
    store = catalog_for(state).store
    assert store is not None and store.recovered


def test_refresh_failure_keeps_the_catalog(tmp_path: Path) -> None:
    catalog = Catalog(bundled().models, bundled().offers, CatalogStore(tmp_path / "c.sqlite3"))
    settings = load_settings(
        {"providers": {"groq": {"base_url": "http://127.0.0.1:9/v1"}}},
        api_keys={"groq": "gsk_test_key_000"},
    )
    groq = settings.providers["groq"]
    before = dict(catalog.offers_of(groq))
    [result] = catalog.refresh([groq], timeout=0.5)
    assert not result.ok and result.error
    assert catalog.offers_of(groq) == before
    assert not catalog.due(groq, 24.0)  # a failed attempt is not retried at once


def test_background_refresh_only_for_providers_that_answered_before(tmp_path: Path) -> None:
    from openmux.health import HealthStore

    catalog = Catalog(bundled().models, bundled().offers, CatalogStore(tmp_path / "c.sqlite3"))
    settings = load_settings(
        {"router": {"providers": ["groq"]}}, api_keys={"groq": "gsk_test_key_000"}
    )
    health = HealthStore(None)
    assert catalog.maybe_refresh(settings, health) is False  # never answered: no listing call
