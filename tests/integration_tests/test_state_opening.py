"""Processes that start together all open their state files at once; none is left out.

A process whose quota file could not be opened would count in memory alone and spend a
shared free-tier allowance a second time, so opening waits out the other processes'
first writes (SQLite answers the losers of the race to switch a new file to WAL
"locked" at once, without its busy timeout).
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from openmux.quotas._counts import connect as connect_quota_counts
from openmux.quotas._usage import _connect as connect_usage_log
from openmux.state import open_state_db
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
