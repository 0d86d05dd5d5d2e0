"""Health shared between processes: writes merge in SQL, so none is lost or undone."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from openmux.health import HealthStore
from openmux.health import _store as health_module

WRITERS = 8
FAILURES_EACH = 40


def other_process(path: Path, code: str) -> None:
    """Run `code` with `store` open on the same file, in a separate Python process."""
    script = (
        "from pathlib import Path\n"
        "from openmux.health import HealthStore\n"
        f"store = HealthStore(Path({str(path)!r}))\n{code}\nstore.flush()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stderr


def row(path: Path, model: str) -> tuple[float, str, int, int, int]:
    with sqlite3.connect(path) as db:
        found = db.execute(
            "SELECT benched_until, reason, successes, failures, consecutive_failures"
            " FROM health WHERE provider = 'p' AND model = ?",
            (model,),
        ).fetchone()
    assert found is not None
    return found  # type: ignore[no-any-return]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "health.sqlite3"


def test_a_stale_process_does_not_erase_another_process_bench(path: Path) -> None:
    store = HealthStore(path)
    store.record_success("p", "m")
    assert store.bench_of("p", "m") is None  # this process's view: healthy
    other_process(path, "store.record_failure('p', 'm', reason='rate_limited', bench_for=60)")
    # Written from the stale view in the same instant: neither may undo the bench.
    store.record_success("p", "m")
    store.record_failure("p", "m", reason="http_5xx", breaker=False)
    store.flush()
    benched_until, reason, successes, failures, _ = row(path, "m")
    assert benched_until > time.time() + 50
    assert reason == "rate_limited"
    assert (successes, failures) == (2, 2)
    assert store.bench_of("p", "m") is not None


def test_eight_writers_lose_no_failure_count(path: Path) -> None:
    HealthStore(path)  # create the file before the writers race for it
    script = (
        "from pathlib import Path\n"
        "from openmux.health import HealthStore\n"
        f"store = HealthStore(Path({str(path)!r}))\n"
        f"for _ in range({FAILURES_EACH}):\n"
        "    store.record_failure('p', 'm', reason='http_5xx', breaker=False)\n"
        "    store.record_success('p', 'other')\n"
        "store.flush()\n"
    )
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", script], env=dict(os.environ), stderr=subprocess.PIPE
        )
        for _ in range(WRITERS)
    ]
    for writer in writers:
        _, stderr = writer.communicate(timeout=300)
        assert writer.returncode == 0, stderr.decode()
    assert row(path, "m")[3] == WRITERS * FAILURES_EACH
    assert row(path, "other")[2] == WRITERS * FAILURES_EACH


def test_unflushed_changes_survive_another_process_write(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The KeyError of a dirty row dropped by a refresh, then flushed by its key."""
    monkeypatch.setattr(health_module, "REFRESH_SECONDS", 0.0)
    store = HealthStore(path)
    store.record_success("p", "kept-in-memory")  # batched: not written yet
    other_process(path, "store.record_failure('p', 'elsewhere', reason='timeout')")
    assert store.bench_of("p", "anything") is None  # reloads what the other process wrote
    store.record_failure("p", "m", reason="timeout")  # flushes every pending change
    assert row(path, "kept-in-memory")[2] == 1
    assert row(path, "elsewhere")[3] == 1
    assert store.p95_first_token_ms("p", "kept-in-memory") is None  # still readable


def test_the_breaker_counts_failures_from_every_process(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health_module, "REFRESH_SECONDS", 0.0)
    store = HealthStore(path)
    other_process(path, "store.record_failure('p', 'm', reason='timeout')\n" * 2)
    until = store.record_failure("p", "m", reason="timeout")  # the third in a row
    assert until > time.time()
    assert row(path, "m")[4] == 3


def test_rows_are_bounded(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health_module, "MAX_ROWS", 50)
    store = HealthStore(path)
    store.record_failure("p", "benched", reason="rate_limited", bench_for=600)
    for number in range(120):
        store.record_failure("p", f"model-{number}", reason="http_4xx", breaker=False)
    with sqlite3.connect(path) as db:
        count = db.execute("SELECT COUNT(*) FROM health").fetchone()[0]
    assert count <= 51
    assert store.bench_of("p", "benched") is not None  # a bench in force is never dropped


def test_bad_rows_are_skipped_not_fatal(path: Path) -> None:
    HealthStore(path).record_failure("p", "good", reason="timeout", breaker=False)
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO health (provider, model, benched_until, consecutive_failures)"
            " VALUES ('p', 'bad', 'not a time', 'x')"
        )
    store = HealthStore(path)
    assert store.bench_of("p", "bad") is None
    assert store.benches() == []


def test_a_corrupt_database_is_moved_aside_and_rebuilt(path: Path) -> None:
    path.write_bytes(b"this is not a database" * 100)
    store = HealthStore(path)
    assert "moved aside" in store.problem
    assert path.with_name("health.sqlite3.corrupt").is_file()
    store.record_failure("p", "m", reason="rate_limited", bench_for=60)
    assert row(path, "m")[1] == "rate_limited"


def test_a_second_corruption_keeps_the_first_copy(path: Path) -> None:
    path.with_name("health.sqlite3.corrupt").write_bytes(b"first damage" * 100)
    path.write_bytes(b"second damage" * 100)
    assert "moved aside" in HealthStore(path).problem
    assert path.with_name("health.sqlite3.corrupt").read_bytes() == b"first damage" * 100
    assert path.with_name("health.sqlite3.corrupt.2").read_bytes() == b"second damage" * 100
