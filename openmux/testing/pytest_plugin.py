"""pytest plugin providing the `fake_provider_server` fixture.

Opt-in, so that installing OpenMux changes no other project's pytest runs:
enable it with `pytest_plugins = ["openmux.testing.pytest_plugin"]` in your
top-level `conftest.py` (or `-p openmux.testing.pytest_plugin` on the command
line).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openmux.testing._server import FakeProviderServer


@pytest.fixture
def fake_provider_server() -> Iterator[FakeProviderServer]:
    """A started `FakeProviderServer` on 127.0.0.1, stopped after the test."""
    server = FakeProviderServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
