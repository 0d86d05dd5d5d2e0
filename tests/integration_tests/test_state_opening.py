"""Processes that start together all open their state files at once; none is left out.

A process whose quota file could not be opened would count in memory alone and spend a
shared free-tier allowance a second time, so opening waits out the other processes'
first writes (SQLite answers the losers of the race to switch a new file to WAL
"locked" at once, without its busy timeout).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from openmux.health._store import _connect as connect_health
from openmux.quotas._counts import connect as connect_quota_counts
from openmux.quotas._usage import UsageLog, UsageRecord
from openmux.quotas._usage import _connect as connect_usage_log
from openmux.state import open_state_db
from openmux.state._sqlite import _connect as connect_blobs
from tests.helpers import run_cli

PROCESSES = 8
ROUNDS = 20  # before the fix, one round in five had a process left in memory


def _open(
    connect: Callable[[Path], sqlite3.Connection],
    path: Path,
    start: multiprocessing.synchronize.Barrier,
    problems: multiprocessing.Queue[str],
) -> None:
    start.wait()
    problems.put(open_state_db(path, connect).problem)


@pytest.mark.parametrize(
    "connect", [connect_quota_counts, connect_usage_log], ids=["quota counts", "usage log"]
)
def test_processes_creating_one_state_file_at_once_all_open_it(
    connect: Callable[[Path], sqlite3.Connection], tmp_path: Path
) -> None:
    forking = multiprocessing.get_context("fork")
    problems: multiprocessing.Queue[str] = forking.Queue()
    for round_ in range(ROUNDS):
        start = forking.Barrier(PROCESSES)
        path = tmp_path / f"round-{round_}.sqlite3"
        children = [
            forking.Process(target=_open, args=(connect, path, start, problems))
            for _ in range(PROCESSES)
        ]
        for child in children:
            child.start()
        for child in children:
            child.join(60)
        seen = [problems.get(timeout=10) for _ in children]
        assert seen == [""] * PROCESSES


@pytest.mark.parametrize("name", ["health.sqlite3", "usage.sqlite3", "state.sqlite3"])
def test_a_state_file_that_cannot_be_opened_is_one_warning_line(
    clean_environment: Path, name: str
) -> None:
    """A folder in a store's place (or a file this user cannot write): the answer still
    comes, from memory, and one line says which file and what to check."""
    state = clean_environment / "state"
    (state / name).mkdir(parents=True)
    (clean_environment / "openmux.toml").write_text("", encoding="utf-8")
    result = run_cli(
        "chat", "--no-stream", "hi", env={**os.environ, "OPENMUX_STATE_DIR": str(state)}
    )
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "kept in memory" in line]
    assert len(warnings) == 1, result.stderr
    assert name in warnings[0] and "check that it is a file" in warnings[0]
    assert "Traceback" not in result.stderr


def _newer_schema(
    state: Path, name: str, connect: Callable[[Path], sqlite3.Connection]
) -> list[str]:
    """Make the store's file `name` as a later OpenMux might: its table with one more
    column, which this version cannot fill. Returns the file's schema, as it was made."""
    scratch = state / "scratch" / name
    scratch.parent.mkdir(parents=True)
    connect(scratch).close()
    with contextlib.closing(sqlite3.connect(scratch)) as today:
        tables = today.execute("SELECT sql FROM sqlite_master WHERE type = 'table'").fetchall()
    with contextlib.closing(sqlite3.connect(state / name)) as later:
        for (sql,) in tables:
            later.execute(sql.replace("(", "(tenant TEXT NOT NULL, ", 1))
        return _schema(later)


def _schema(db: sqlite3.Connection) -> list[str]:
    return sorted(
        sql for (sql,) in db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")
    )


@pytest.mark.parametrize(
    ("name", "connect"),
    [
        ("health.sqlite3", connect_health),
        ("quotas.sqlite3", connect_quota_counts),
        ("usage.sqlite3", connect_usage_log),
        ("state.sqlite3", connect_blobs),
    ],
)
def test_a_state_file_of_a_newer_schema_is_left_alone_with_one_warning_line(
    clean_environment: Path, name: str, connect: Callable[[Path], sqlite3.Connection]
) -> None:
    """Every write to it would fail (a column this version cannot fill): before, the file
    opened, each write failed without a word and `openmux stats` said nothing was recorded."""
    state = clean_environment / "state"
    schema = _newer_schema(state, name, connect)
    (clean_environment / "openmux.toml").write_text("", encoding="utf-8")
    env = {**os.environ, "OPENMUX_STATE_DIR": str(state)}
    result = run_cli("chat", "--no-stream", "hi", env=env)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "kept in memory" in line]
    assert len(warnings) == 1, result.stderr
    assert name in warnings[0] and "upgrade OpenMux" in warnings[0], warnings
    assert "Traceback" not in result.stderr
    with contextlib.closing(sqlite3.connect(state / name)) as later:
        assert _schema(later) == schema
    assert not list(state.glob(f"{name}.corrupt*"))


def test_attempts_are_kept_in_memory_beside_a_usage_file_of_a_newer_schema(
    tmp_path: Path,
) -> None:
    _newer_schema(tmp_path, "usage.sqlite3", connect_usage_log)
    log = UsageLog(tmp_path / "usage.sqlite3")
    assert "upgrade OpenMux" in log.problem
    log.record(UsageRecord(at=time.time(), provider="p", model="m", task="chat", status="ok"))
    log.flush()
    assert [row.provider for row in log.rows()] == ["p"]
    with contextlib.closing(sqlite3.connect(tmp_path / "usage.sqlite3")) as later:
        assert later.execute("SELECT COUNT(*) FROM attempts").fetchone() == (0,)
