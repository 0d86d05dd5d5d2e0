"""Several processes routing real requests over one state dir: no crash, no lock error,
no bench lost.

The health store once raised `KeyError` from a request that had already been answered:
another process's write made this one reload its rows from SQLite, the reload dropped a
row still waiting for its batched flush, and the flush then looked the row up by key.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_config, run_child

PROVIDERS = {
    "alpha": dict(models=["a1"], reply="from alpha"),
    "beta": dict(models=["b1"], reply="from beta"),
    "gamma": dict(models=["c1"], reply="from gamma"),
}
SOAK_PROCESSES = 8
SOAK_SECONDS = 10.0

# argv: config (JSON), this process's number, seconds to keep sending requests.
_ROUTER_CHILD = """
import json, sys, time
from openmux import ChatOpenMux, NoProviderAvailable, TaskClassification, TaskType
from openmux.health import health_store

config, number, seconds = json.loads(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
fixed = TaskClassification(TaskType.CHAT, 1.0, [], "fixed")
llm = ChatOpenMux(config=config, classifier=lambda _: fixed)
store = health_store(llm.settings.state_dir)
answered = unanswered = 0
benched_mine = False
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        llm.invoke("hi")
        answered += 1
    except NoProviderAvailable:
        unanswered += 1
    if not benched_mine and time.monotonic() > end - seconds / 2:
        store.record_failure("soak", f"mine-{number}", reason="rate_limited", bench_for=600)
        benched_mine = True
# Still this process's view at the end, whatever the others wrote meanwhile.
assert store.bench_of("soak", f"mine-{number}") is not None
store.flush()
print(json.dumps({"answered": answered, "unanswered": unanswered}))
"""


def _run_routers(config: dict[str, Any], processes: int, seconds: float) -> list[dict[str, int]]:
    argv = [sys.executable, "-c", _ROUTER_CHILD, json.dumps(config)]
    with ThreadPoolExecutor(processes) as pool:
        runs = list(
            pool.map(
                lambda number: run_child([*argv, str(number), str(seconds)], timeout=300),
                range(processes),
            )
        )
    for run in runs:
        assert "database is locked" not in run.stderr
        assert run.returncode == 0, run.stderr[-3000:]
    return [json.loads(run.stdout.strip().splitlines()[-1]) for run in runs]


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
