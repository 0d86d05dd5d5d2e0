"""A process forked after OpenMux answered (multiprocessing's fork start method, gunicorn's
`--preload`, Celery's prefork pool): every request counted once, no state file damaged,
and no child hung by a lock another thread held at the fork.

Before, a child wrote its parent's batched usage rows and quota counts a second time,
wrote through its parent's SQLite connections, and waited for ever on the usage log's
lock when the writer thread held it at the fork. A fork now waits for a write in
progress; a store still in use when that wait ends keeps the child's state in memory
(see openmux/state/_fork.py).
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import openmux.state._fork
from openmux import ChatOpenMux
from openmux.quotas import quota_store, usage_log
from openmux.quotas._usage import BATCH, UsageLog, UsageRecord
from openmux.testing import FakeProviderServer
from tests.helpers import provider_config
from tests.state_server import StateServer

PROVIDERS = {"alpha": {"models": ["a-1"], "reply": "from alpha"}}
PARENT_REQUESTS = 5  # fewer than a batch: still waiting to be written at the fork
CHILDREN = 3
CHILD_REQUESTS = 4
JOIN_S = 60

# The test process runs the fake provider's threads; forking it is the case under test.
pytestmark = pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")


def _fork(target: Any, *args: Any) -> multiprocessing.process.BaseProcess:
    child = multiprocessing.get_context("fork").Process(target=target, args=args)
    child.start()
    return child


def _exit_code(child: multiprocessing.process.BaseProcess) -> int | None:
    """None: the child was still running after JOIN_S (killed then)."""
    child.join(JOIN_S)
    if child.exitcode is None:
        child.kill()
        child.join()
        return None
    return child.exitcode


def _answer(llm: ChatOpenMux, n: int) -> None:
    # No flush here: a multiprocessing child ends with os._exit, which skips atexit, so
    # its last batch is written by the finalizers multiprocessing runs before that.
    for i in range(n):
        assert llm.invoke(f"child {i}").content == "from alpha"


def _ok_rows(state_dir: Path) -> int:
    with sqlite3.connect(state_dir / "usage.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM attempts WHERE status = 'ok'").fetchone()[0])


def _day_count(state_dir: Path) -> int:
    with sqlite3.connect(state_dir / "quotas.sqlite3") as db:
        rows = db.execute("SELECT n FROM quota_counts WHERE window = 'd'").fetchall()
    return sum(n for (n,) in rows)


def _intact(path: Path) -> bool:
    with sqlite3.connect(path) as db:
        return bool(db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")


def _answer_in_parent_and_children(server: FakeProviderServer, state_dir: Path) -> int:
    """How many requests were answered."""
    config = provider_config(server.providers["alpha"])
    config["providers"]["alpha"]["limits"] = {"rpd": 10_000}
    llm = ChatOpenMux(config=config)
    for i in range(PARENT_REQUESTS):
        llm.invoke(f"parent {i}")

    codes = []
    for _ in range(CHILDREN):
        codes.append(_exit_code(_fork(_answer, llm, CHILD_REQUESTS)))
    assert codes == [0] * CHILDREN
    llm.invoke("parent, after the children")
    usage_log(state_dir).flush()
    quota_store(state_dir).flush()
    answered = PARENT_REQUESTS + CHILDREN * CHILD_REQUESTS + 1
    assert len(server.providers["alpha"].requests) == answered
    return answered


def test_requests_in_forked_children_are_counted_once(
    server: FakeProviderServer, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    answered = _answer_in_parent_and_children(server, state_dir)
    assert _ok_rows(state_dir) == answered
    assert _day_count(state_dir) == answered
    for name in ("usage.sqlite3", "quotas.sqlite3", "health.sqlite3"):
        assert _intact(state_dir / name), name


def test_requests_in_forked_children_reach_the_shared_server_once(
    server: FakeProviderServer,
    state_server: StateServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import redis

    monkeypatch.setenv("OPENMUX_STATE_URL", state_server.url)
    answered = _answer_in_parent_and_children(server, tmp_path / "state")
    client = redis.Redis.from_url(state_server.url)

    def shared() -> tuple[int, int]:
        counts = client.hgetall("openmux:r:quota:c\x1falpha|*\x1fd").values()
        return int(client.llen("openmux:l:usage")), sum(int(n) for n in counts)

    deadline = time.monotonic() + 30  # each child's sync thread sends within a second
    while shared() != (answered, answered) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert shared() == (answered, answered)


def _row(provider: str) -> UsageRecord:
    return UsageRecord(at=time.time(), provider=provider, model="m", task="chat", status="ok")


def _record_in_memory(log: UsageLog) -> None:
    log.record(_row("child"))
    log.flush()
    assert "in use when this process was forked" in log.problem
    assert [row.provider for row in log.rows()] == ["child"]


def _writing_behind_a_lock(path: Path) -> tuple[UsageLog, sqlite3.Connection]:
    """A usage log whose writer thread, handed a due batch, waits inside its write
    (holding the log's lock): a second connection holds the file's write lock."""
    log = UsageLog(path)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    for _ in range(BATCH):
        log.record(_row("parent"))
    deadline = time.monotonic() + JOIN_S
    while not log._push_lock.locked() and time.monotonic() < deadline:
        time.sleep(0.01)  # until the writer thread has the batch in hand
    return log, other


def _release(other: sqlite3.Connection) -> None:
    other.execute("COMMIT")
    other.close()


def _counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT provider, COUNT(*) FROM attempts GROUP BY provider"))


def test_a_child_forked_in_a_write_that_outlasts_the_wait_keeps_its_usage_in_memory(
    tmp_path: Path,
) -> None:
    path = tmp_path / "usage.sqlite3"
    log, other = _writing_behind_a_lock(path)
    try:
        child = _fork(_record_in_memory, log)
    finally:
        _release(other)
    assert _exit_code(child) == 0  # None: the child hung
    log.flush()
    assert _counts(path) == {"parent": BATCH}


def _record_to_file(log: UsageLog) -> None:
    log.record(_row("child"))
    log.flush()
    assert log.problem == ""


def test_a_fork_waits_for_a_write_in_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The write ends while the fork waits (which is long here, so that a slow machine
    # cannot end the wait first): the child finds the file free and writes to it.
    monkeypatch.setattr(openmux.state._fork, "_FORK_WAIT_S", JOIN_S)
    path = tmp_path / "usage.sqlite3"
    log, other = _writing_behind_a_lock(path)
    releasing = threading.Timer(0.2, _release, (other,))
    releasing.start()
    child = _fork(_record_to_file, log)
    releasing.join()
    assert _exit_code(child) == 0
    log.flush()
    assert _counts(path) == {"parent": BATCH, "child": 1}
