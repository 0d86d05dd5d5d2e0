"""Catalog refresh against the loopback fake server (OpenRouter, OpenAI-compatible, Ollama
listings), the SQLite cache across instances, background refresh, and `openmux models`."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from openmux.catalog import Catalog, CatalogStore, bundled
from openmux.config import load_settings
from openmux.health import HealthStore
from openmux.routing import RouteRequest, select_candidates
from openmux.testing import FakeProviderServer
from tests.helpers import run_cli

FREE_VISION = "google/gemma-3-27b-it:free"
PAID = "openai/gpt-4.1-mini"
ZERO_PRICE = "mistralai/mistral-nemo"  # no ":free" suffix, zero price
NO_TOOLS = "deepseek/deepseek-r1:free"


PROVIDERS = {
    "openrouter": dict(
        models=[FREE_VISION, PAID, ZERO_PRICE, NO_TOOLS, "vendor/brand-new:free"],
        model_info={
            FREE_VISION: {"context_length": 96_000},
            ZERO_PRICE: {
                "pricing": {"prompt": "0", "completion": "0"},
                "architecture": {"input_modalities": ["text"]},
            },
            NO_TOOLS: {
                "supported_parameters": ["max_tokens", "temperature"],
                "architecture": {"input_modalities": ["text"]},
            },
            "vendor/brand-new:free": {"architecture": {"output_modalities": ["image"]}},
        },
    ),
    "groq": dict(models=["llama-3.3-70b-versatile", "whisper-large-v3"]),
    "ollama": dict(models=["llama3.1:8b", "gemma3:27b", "nomic-embed-text"]),
}


def _settings(server: FakeProviderServer, **router: Any) -> Any:
    return load_settings(
        {
            "router": {"providers": ["openrouter", "groq", "ollama"], **router},
            "providers": {
                "openrouter": {"base_url": server.providers["openrouter"].openrouter_base_url},
                "groq": {"base_url": server.providers["groq"].base_url},
                "ollama": {"base_url": server.providers["ollama"].ollama_base_url},
            },
        },
        api_keys={"openrouter": "sk-or-test-key-000", "groq": "gsk_test_key_000"},
    )


@contextlib.contextmanager
def _gone(server: FakeProviderServer, name: str) -> Iterator[None]:
    """The provider's routes answer 404 meanwhile (a listing that fails)."""
    provider = server.providers[name]
    server.remove_provider(name)
    try:
        yield
    finally:
        server.add_provider(name, models=provider.models)


def _catalog(path: Path) -> Catalog:
    data = bundled()
    return Catalog(data.models, data.offers, CatalogStore(path), data.snapshot)


def test_refresh_reads_openrouter_openai_and_ollama_listings(
    server: FakeProviderServer, tmp_path: Path
) -> None:
    settings = _settings(server)
    catalog = _catalog(tmp_path / "catalog.sqlite3")
    results = {r.provider: r for r in catalog.refresh(settings.provider_order())}
    assert all(r.ok for r in results.values()), results
    assert results["openrouter"].count == 5
    assert "vendor/brand-new:free" in results["openrouter"].added
    assert "meta-llama/llama-3.3-70b-instruct:free" in results["openrouter"].removed
    assert "google/gemma-3-27b-it:free" in results["openrouter"].changed  # context 96k
    assert results["ollama"].count == 3

    openrouter = settings.providers["openrouter"]
    offers = catalog.offers_of(openrouter)
    assert offers[FREE_VISION].vision and offers[FREE_VISION].free
    assert offers[FREE_VISION].context_length == 96_000
    assert offers[FREE_VISION].model == "gemma-3-27b-it"
    assert offers[PAID].free is False
    assert offers[ZERO_PRICE].free is True
    assert offers[NO_TOOLS].tools is False and offers[NO_TOOLS].json_mode is False
    assert offers["vendor/brand-new:free"].outputs == ("image",)
    groq = catalog.offers_of(settings.providers["groq"])
    assert set(groq) == {"llama-3.3-70b-versatile", "whisper-large-v3"}
    assert groq["llama-3.3-70b-versatile"].model == "llama-3.3-70b-instruct"
    calls = server.providers["openrouter"].requests
    assert calls[-1].path == "/api/v1/models"
    assert calls[-1].headers["authorization"] == "Bearer sk-or-test-key-000"


def test_refreshed_listing_drives_selection(server: FakeProviderServer, tmp_path: Path) -> None:
    settings = _settings(server, providers=["openrouter"])
    catalog = _catalog(tmp_path / "catalog.sqlite3")
    catalog.refresh(settings.provider_order())
    # a loopback base URL makes the provider local: its models are the ones the server lists
    found = {"openrouter": list(catalog.offers_of(settings.providers["openrouter"]))}
    request = RouteRequest(messages=[HumanMessage("hi")], task="chat")
    candidates = select_candidates(
        request, settings, found, catalog=catalog, health=HealthStore(None)
    )
    ids = [c.model.id for c in candidates]
    # free only: the listing's price rules the paid model out (a loopback address makes
    # nothing free) and lets the zero-price one in; the image-output model is no chat model
    assert set(ids) == {FREE_VISION, NO_TOOLS, ZERO_PRICE}
    tools = RouteRequest(messages=[HumanMessage("hi")], call_kwargs={"tools": [{"x": 1}]})
    ids = [
        c.model.id
        for c in select_candidates(
            tools, settings, found, catalog=catalog, health=HealthStore(None)
        )
    ]
    # the live listing beats the snapshot: this server says gemma takes tools; r1 takes none
    assert ids == [FREE_VISION, ZERO_PRICE]


def test_cache_is_shared_with_a_new_instance_and_survives_a_failed_refresh(
    server: FakeProviderServer, tmp_path: Path
) -> None:
    settings = _settings(server, providers=["groq"])
    path = tmp_path / "catalog.sqlite3"
    _catalog(path).refresh(settings.provider_order())
    later = _catalog(path)  # another process: reads the cache
    groq = settings.providers["groq"]
    assert set(later.offers_of(groq)) == {"llama-3.3-70b-versatile", "whisper-large-v3"}
    with _gone(server, "groq"):
        [failed] = later.refresh([groq])
    assert not failed.ok and "404" in failed.error
    assert set(_catalog(path).offers_of(groq)) == {"llama-3.3-70b-versatile", "whisper-large-v3"}


def test_a_listing_from_another_base_url_is_ignored(
    server: FakeProviderServer, tmp_path: Path
) -> None:
    settings = _settings(server, providers=["groq"])
    catalog = _catalog(tmp_path / "catalog.sqlite3")
    catalog.refresh(settings.provider_order())
    moved = load_settings(
        {"providers": {"groq": {"base_url": "http://127.0.0.1:9/v1"}}},
        api_keys={"groq": "gsk_test_key_000"},
    )
    assert "meta-llama/llama-4-scout-17b-16e-instruct" in catalog.offers_of(moved.providers["groq"])


def test_background_refresh_after_a_provider_has_answered(
    server: FakeProviderServer, tmp_path: Path
) -> None:
    from dataclasses import replace
    from types import MappingProxyType

    settings = _settings(server, providers=["groq"])
    # the fake server is on loopback; background refresh is for remote providers
    remote = replace(settings.providers["groq"], local=False)
    settings = replace(settings, providers=MappingProxyType({"groq": remote}))
    catalog = _catalog(tmp_path / "catalog.sqlite3")
    health = HealthStore(None)
    assert not catalog.maybe_refresh(settings, health)  # never answered: nothing fetched
    assert server.providers["groq"].hits_by_path.get("/v1/models") is None
    health.record_success("groq", "llama-3.3-70b-versatile", first_token_ms=120.0)
    catalog._last_check = float("-inf")  # the once-a-minute check is due again
    generation = catalog.generation
    assert catalog.maybe_refresh(settings, health)
    deadline = time.monotonic() + 10
    while catalog.generation == generation and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "whisper-large-v3" in catalog.offers_of(settings.providers["groq"])
    catalog._last_check = float("-inf")
    assert not catalog.maybe_refresh(settings, health)  # fresh now: within the TTL


def test_cli_models_refresh_and_table(
    server: FakeProviderServer, clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    (clean_environment / "openmux.toml").write_text(
        "[router]\n"
        'providers = ["groq"]\n'
        "[providers.groq]\n"
        f'base_url = "{server.providers["groq"].base_url}"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "GROQ_API_KEY": "gsk_test_key_000", "COLUMNS": "200"}
    listed = run_cli("models", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert rows[0]["provider"] == "groq" and rows[0]["status"] == "ready"
    assert rows[0]["score"]["source"] and rows[0]["reason"]
    assert all(r["listing"].startswith("bundled") for r in rows)

    refreshed = run_cli("models", "refresh", env=env)
    assert refreshed.returncode == 0, refreshed.stderr
    assert "groq: 2 models" in refreshed.stdout and "removed" in refreshed.stdout

    table = run_cli("models", "--task", "code", "--explain", env=env)
    assert table.returncode == 0, table.stderr
    assert "groq:llama-3.3-70b-versatile" in table.stdout
    assert "Aider polyglot" in table.stdout
    assert "whisper" not in table.stdout  # not a chat model

    with _gone(server, "groq"):
        failed = run_cli("models", "refresh", "--json", env=env)
    assert failed.returncode == 1
    assert json.loads(failed.stdout)[0]["ok"] is False
    still = json.loads(run_cli("models", "--json", env=env).stdout)
    assert [r["model"] for r in still] == ["llama-3.3-70b-versatile"]
    assert still[0]["listing"].startswith("refreshed")


HOSTILE_IDS = ["evil\x1b]0;owned\x07\x1b[2J", "two\nlines", "right\u202eleft", "x" * 300]


def test_listed_ids_no_model_has_are_left_out(
    server: FakeProviderServer, clean_environment: Path
) -> None:
    """Ids holding control characters (terminal escapes, a line break, a direction override)
    or absurdly long are no model a provider serves: `openmux models` would print them to
    the terminal as they are."""
    import os

    server.providers["groq"].models = ["llama-3.3-70b-versatile", *HOSTILE_IDS, "[red]x"]
    (clean_environment / "openmux.toml").write_text(
        '[router]\nproviders = ["groq"]\n'
        f'[providers.groq]\nbase_url = "{server.providers["groq"].base_url}"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "GROQ_API_KEY": "gsk_test_key_000"}
    refreshed = run_cli("models", "refresh", env=env)
    assert refreshed.returncode == 0, refreshed.stderr
    assert "groq: 2 models; added 1: [red]x;" in refreshed.stdout
    listed = run_cli("models", "--all", "--explain", env=env)
    for shown in (refreshed.stdout, listed.stdout):
        assert "\x1b" not in shown and "\u202e" not in shown and "x" * 300 not in shown
        assert "lines" not in shown
    assert "groq:llama-3.3-70b-versatile" in listed.stdout and "groq:[red]x" in listed.stdout
