"""Requests made off the request path (a catalog refresh, `openmux doctor`, a key check,
OpenRouter's key allowance) against a listing that never ends: it drips for ever, or
floods gigabytes. Each gives up within its own time, with one line saying why, and holds
no more of it in memory than a listing can need."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from openmux.config import ProviderSettings, load_settings
from openmux.testing import FakeProviderServer, Fault

PROVIDERS = {
    "openrouter": dict(models=["vendor/model:free"]),
    "groq": dict(models=["llama-3.3-70b-versatile"]),
}

SAFETY = 20.0
"""A fault still running this long means nothing ended it: the fake gives up."""
WITHIN = 15.0
"""The longest any of these may take here, with a slow shared machine's slack."""


def _provider(server: FakeProviderServer, name: str) -> ProviderSettings:
    fake = server.providers[name]
    base = fake.openrouter_base_url if name == "openrouter" else fake.base_url
    settings = load_settings(
        {"router": {"providers": [name]}, "providers": {name: {"base_url": base}}},
        api_keys={name: "zz-test-key-0123456789"},
    )
    return settings.providers[name]


def _refresh(provider: ProviderSettings) -> str:
    from openmux.catalog._refresh import RefreshError, fetch_offers

    with pytest.raises(RefreshError) as failed:
        fetch_offers(provider, lambda _: None, "test", timeout=3.0)
    return str(failed.value)


def _doctor(provider: ProviderSettings) -> str:
    from openmux.cli._doctor import check_provider

    check = check_provider(provider, load_settings())
    assert not check.ok and check.status != "not running"  # it answers, without end
    return f"{check.status}: {check.fix}"


def _key_check(provider: ProviderSettings) -> str:
    from openmux.cli._keys import check_key

    result = check_key(provider, "zz-test-key-0123456789", timeout=3.0)
    assert result.ok is None
    return result.message


def _openrouter_allowance(provider: ProviderSettings) -> str:
    from openmux.quotas._openrouter_key import daily_free_requests

    assert daily_free_requests(provider) is None
    return "none"


CALLERS: dict[str, tuple[str, Callable[[ProviderSettings], str]]] = {
    "catalog refresh": ("groq", _refresh),
    "doctor": ("groq", _doctor),
    "key check": ("groq", _key_check),
    "openrouter allowance": ("openrouter", _openrouter_allowance),
}


@pytest.mark.parametrize("interval", [0.1, 0.0], ids=["drips", "floods"])
@pytest.mark.parametrize("caller", list(CALLERS))
def test_a_listing_that_never_ends_is_given_up_on(
    server: FakeProviderServer, caller: str, interval: float
) -> None:
    name, call = CALLERS[caller]
    server.providers[name].fault = Fault.endless(interval, seconds=SAFETY, on_listing=True)
    started = time.monotonic()
    said: Any = call(_provider(server, name))
    assert time.monotonic() - started < WITHIN
    assert "\n" not in said and "zz-test-key" not in said
