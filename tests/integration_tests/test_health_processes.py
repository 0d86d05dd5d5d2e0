"""Several processes routing real requests over one state dir: no crash, no lock error,
no bench lost.

The health store once raised `KeyError` from a request that had already been answered:
another process's write made this one reload its rows from SQLite, the reload dropped a
row still waiting for its batched flush, and the flush then looked the row up by key.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_config, run_routers

PROVIDERS = {
    "alpha": dict(models=["a1"], reply="from alpha"),
    "beta": dict(models=["b1"], reply="from beta"),
    "gamma": dict(models=["c1"], reply="from gamma"),
}
SOAK_PROCESSES = 8
SOAK_SECONDS = 10.0


def _run_routers(config: dict[str, Any], processes: int, seconds: float) -> list[dict[str, Any]]:
    runs = run_routers(config, processes, seconds)
    for run in runs:
        assert "database is locked" not in run.stderr
        assert run.returncode == 0, run.stderr[-3000:]
    counts = [json.loads(run.stdout.strip().splitlines()[-1]) for run in runs]
    for count in counts:
        assert count["errors"] == {}
        assert count["kept"]
    return counts


def _benches(state_dir: Path) -> dict[str, float]:
    with sqlite3.connect(state_dir / "health.sqlite3") as db:
        rows = db.execute(
            "SELECT model, benched_until FROM health WHERE provider = 'soak'"
        ).fetchall()
    return dict(rows)


def test_two_processes_share_a_state_dir_while_answering(
    server: FakeProviderServer, tmp_path: Path
) -> None:
    server.providers["alpha"].fault = Fault.flaky(0.5, seed=1)
    config = provider_config(*server.providers.values())
    counts = _run_routers(config, processes=2, seconds=3.0)
    assert all(count["answered"] > 0 for count in counts)
    benches = _benches(tmp_path / "state")
    assert set(benches) == {"mine-0", "mine-1"}


def test_soak_eight_processes_with_failing_providers(
    server: FakeProviderServer, tmp_path: Path
) -> None:
    server.providers["alpha"].fault = Fault.flaky(
        0.4, seed=2, fault=Fault.status(503, retry_after=1)
    )
    server.providers["beta"].fault = Fault.flaky(0.4, seed=3)
    server.providers["gamma"].fault = Fault.flaky(0.2, seed=4, fault=Fault.status(429))
    config = provider_config(*server.providers.values())
    counts = _run_routers(config, processes=SOAK_PROCESSES, seconds=SOAK_SECONDS)
    assert sum(count["answered"] for count in counts) > 0
    benches = _benches(tmp_path / "state")
    assert set(benches) == {f"mine-{n}" for n in range(SOAK_PROCESSES)}
    assert all(until > time.time() + 500 for until in benches.values())
    # Nor a usage record: each answer's attempt, batched in each process, is in the file.
    with sqlite3.connect(tmp_path / "state" / "usage.sqlite3") as db:
        ok = db.execute("SELECT COUNT(*) FROM attempts WHERE status = 'ok'").fetchone()[0]
    assert ok == sum(count["answered"] for count in counts)
