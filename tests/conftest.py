"""Every test runs in a clean world: no provider keys, no config files, a temp state dir.

A module that talks to fake providers declares them once, as keyword arguments of
`FakeProviderServer.add_provider` by provider name, and asks for the `server` fixture:

    PROVIDERS = {"alpha": {"models": ["a-1"], "reply": "from alpha"}}

    def test_something(server: FakeProviderServer) -> None: ...

One server serves the whole module; each test gets exactly the declared providers, as
declared (no fault, no latency, no stream delay, counters at zero), whatever the test
before it changed. A module-scoped fixture that needs the providers (to configure a child
process once, say) asks for `module_server` instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openmux.providers import BUILTIN_PROVIDERS
from openmux.testing import FakeProviderServer

# Declared here rather than loaded through an entry point, so a plain clone runs the tests.
pytest_plugins = ["openmux.testing.pytest_plugin", "tests.state_server"]

_OPENMUX_VARS = (
    "OPENMUX_CONFIG",
    "OPENMUX_OFFLINE",
    "OPENMUX_FREE_ONLY",
    "OPENMUX_LOG_LEVEL",
    "OPENMUX_STATE_URL",
)


@pytest.fixture(autouse=True)
def fresh_load_watch() -> None:
    """This process's load watch as a new process has it. A late timer in one test (a
    busy machine's) marks the process saturated for two seconds, in which no request
    races a hedge: the next test's would not."""
    from openmux.routing._load import load

    load.__init__()  # type: ignore[misc]  # the object the router modules imported


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    for spec in BUILTIN_PROVIDERS:
        for name in (*spec.key_envs, spec.host_env, *spec.url_envs.values()):
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


def _serve_declared(server: FakeProviderServer, request: pytest.FixtureRequest) -> None:
    declared: dict[str, dict[str, Any]] | None = getattr(request.module, "PROVIDERS", None)
    if declared is None:
        pytest.fail(f"{request.module.__name__} uses the fake server but declares no PROVIDERS")
    # New provider objects rather than patched old ones: whatever a test changed (fault,
    # reply, latency, stream delay, counters, models, added or removed providers) is gone.
    server.providers.clear()
    for name, options in declared.items():
        server.add_provider(name, **options)


@pytest.fixture(scope="module")
def module_server(request: pytest.FixtureRequest) -> Iterator[FakeProviderServer]:
    """One started fake-provider server for the whole test module, serving its `PROVIDERS`.

    Tests ask for `server`; this one is for module-scoped fixtures that configure something
    once from the providers' URLs and models (a child process, say), which stay the same
    when `server` rebuilds the providers.
    """
    with FakeProviderServer() as server:
        _serve_declared(server, request)
        yield server


@pytest.fixture
def server(module_server: FakeProviderServer, request: pytest.FixtureRequest) -> FakeProviderServer:
    """The module's server serving exactly the module's `PROVIDERS`, as declared."""
    _serve_declared(module_server, request)
    return module_server
