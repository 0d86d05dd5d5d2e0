"""Every test runs in a clean world: no provider keys, no config files, a temp state dir.

A module that talks to fake providers declares them once, as keyword arguments of
`FakeProviderServer.add_provider` by provider name, and asks for the `server` fixture:

    PROVIDERS = {"alpha": {"models": ["a-1"], "reply": "from alpha"}}

    def test_something(server: FakeProviderServer) -> None: ...

One server serves the whole module; each test gets exactly the declared providers, as
declared (no fault, no latency, no stream delay, counters at zero), whatever the test
before it changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openmux.providers import BUILTIN_PROVIDERS
from openmux.testing import FakeProviderServer

# Declared here rather than loaded through an entry point, so a plain clone runs the tests.
pytest_plugins = ["openmux.testing.pytest_plugin"]

_OPENMUX_VARS = ("OPENMUX_CONFIG", "OPENMUX_OFFLINE", "OPENMUX_FREE_ONLY", "OPENMUX_LOG_LEVEL")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    for spec in BUILTIN_PROVIDERS:
        for name in (*spec.key_envs, spec.host_env):
            if name:
                monkeypatch.delenv(name, raising=False)
    for name in _OPENMUX_VARS:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("OPENMUX_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(work)
    yield work


@pytest.fixture(scope="module")
def module_server() -> Iterator[FakeProviderServer]:
    """One started fake-provider server for the whole test module."""
    with FakeProviderServer() as server:
        yield server


@pytest.fixture
def server(module_server: FakeProviderServer, request: pytest.FixtureRequest) -> FakeProviderServer:
    """The module's server serving exactly the module's `PROVIDERS`, as declared."""
    declared: dict[str, dict[str, Any]] | None = getattr(request.module, "PROVIDERS", None)
    if declared is None:
        pytest.fail(
            f"{request.module.__name__} uses the `server` fixture but declares no PROVIDERS"
        )
    # New provider objects rather than patched old ones: whatever a test changed (fault,
    # reply, latency, stream delay, counters, models, added or removed providers) is gone.
    module_server.providers.clear()
    for name, options in declared.items():
        module_server.add_provider(name, **options)
    return module_server
