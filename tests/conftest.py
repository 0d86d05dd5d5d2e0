"""Every test runs in a clean world: no provider keys, no config files, a temp state dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from openmux.providers import BUILTIN_PROVIDERS

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
