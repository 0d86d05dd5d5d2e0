"""Provider facts against the loopback fake: a built-in on a loopback address keeps its
own free rule, a refreshed listing outranks the table's defaults, and OpenRouter's key
endpoint sets the daily allowance of its free models."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from openmux import ChatOpenMux, NoProviderAvailable
from openmux.catalog import catalog_for
from openmux.config import BUILTIN_BY_NAME, load_settings
from openmux.testing import FakeProviderServer

PAID = "openai/gpt-4o"
FREE = "vendor/new-model:free"

PROVIDERS = {
    "openrouter": {"models": [FREE, PAID], "key_info": {"is_free_tier": False}},
}


def _config(server: FakeProviderServer) -> dict[str, Any]:
    return {
        "router": {"providers": ["openrouter"]},
        "providers": {
            "openrouter": {"base_url": server.providers["openrouter"].openrouter_base_url}
        },
    }


KEYS = {"openrouter": "sk-or-test-key-000"}


def test_openrouter_on_loopback_never_sends_a_paid_id_under_free_only(
    server: FakeProviderServer,
) -> None:
    llm = ChatOpenMux(config=_config(server), api_keys=KEYS)
    with pytest.raises(NoProviderAvailable) as caught:
        llm.invoke("hi", model=PAID)
    assert [a["status"] for a in caught.value.attempts] == ["not_free"]
    assert server.providers["openrouter"].hits == 0
    answer = llm.invoke("hi")
    assert answer.response_metadata["openmux"]["model"] == FREE


def test_models_never_lists_a_paid_model_as_free(server: FakeProviderServer) -> None:
    from openmux.cli._models import model_rows

    settings = load_settings(_config(server), api_keys=KEYS)
    rows = model_rows(settings, catalog_for(settings.state_dir), "chat", free=False)
    free = {row["model"]: row["free"] for row in rows}
    assert free[PAID] is False and free[FREE] is True
    shown = model_rows(settings, catalog_for(settings.state_dir), "chat")
    assert PAID not in {row["model"] for row in shown}


def test_a_refresh_that_drops_the_table_defaults_ranks_what_is_served(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Remote, so that the listing comes from the catalog rather than from local discovery.
    monkeypatch.setattr("openmux.config._provider_tables.is_loopback_url", lambda url: False)
    settings = load_settings(_config(server), api_keys=KEYS)
    defaults = [m.id for m in BUILTIN_BY_NAME["openrouter"].models]
    catalog = catalog_for(settings.state_dir)
    from openmux.cli._models import model_rows

    before = [row["model"] for row in model_rows(settings, catalog, "chat")]
    assert set(defaults) <= set(before)  # the bundled snapshot still offers them
    results = catalog.refresh(settings.provider_order())
    assert results[0].ok and set(defaults) <= set(results[0].removed)
    after = [row["model"] for row in model_rows(settings, catalog, "chat")]
    assert after == [FREE]


def test_openrouter_key_endpoint_sets_the_daily_free_allowance(
    server: FakeProviderServer,
) -> None:
    from openmux.quotas import QuotaGate

    settings = load_settings(_config(server), api_keys=KEYS)
    ChatOpenMux(config=_config(server), api_keys=KEYS).invoke("hi")
    gate = QuotaGate(Path(os.environ["OPENMUX_STATE_DIR"]))
    openrouter = settings.providers["openrouter"]
    deadline = time.monotonic() + 30
    while gate.scope(openrouter, FREE)[1].rpd != 1000 and time.monotonic() < deadline:
        time.sleep(0.05)  # the key is asked in the background
    assert gate.scope(openrouter, FREE)[1].rpd == 1000  # credits bought: 1,000 a day
    assert server.providers["openrouter"].hits_by_path.get("/api/v1/key") == 1
