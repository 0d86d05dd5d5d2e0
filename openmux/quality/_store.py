"""Local quality evidence, kept in SQLite (`quality.sqlite3` in the state dir).

    bench     one row per (run, task, provider, model): dated accuracy, latency, failures
    votes     one row per thumbs up or down, with the task and model it was about
    answers   recent answers by run id, so `openmux vote up RUN_ID` knows whom it grades

Selection reads the latest bench row and the vote count per (task, provider, model) from
memory. Every write also replaces a small stamp file beside the database
(`quality.sqlite3.stamp`); a reader compares the stamp's inode and mtime (one stat, no
database round-trip) and reads the file again only when it changed, so a vote cast in
another process counts from the next selection on. A file that cannot be opened keeps
the evidence in memory: grading never stops answers.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections import OrderedDict
from dataclasses import dataclass, fields
from operator import attrgetter
from pathlib import Path
from typing import Any

from openmux.config import default_state_dir
from openmux.state import (
    PerStateDir,
    StateFile,
    connect_wal,
    insert_all,
    restart_in_children,
)

_MAX_ANSWERS = 1000  # answers a vote may still refer to, in memory and in the file
# How often `version` looks at the stamp file: another process's vote re-ranks within
# this, and a busy server does not stat a file per request.
_STAMP_CHECK_S = 0.5

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS bench (
        run_at REAL NOT NULL, task TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
        questions INTEGER NOT NULL, correct INTEGER NOT NULL, failures INTEGER NOT NULL,
        latency_ms REAL, set_version TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS votes (
        at REAL NOT NULL, task TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
        good INTEGER NOT NULL, run_id TEXT)""",
    """CREATE TABLE IF NOT EXISTS answers (
        run_id TEXT PRIMARY KEY, at REAL NOT NULL, task TEXT NOT NULL,
        provider TEXT NOT NULL, model TEXT NOT NULL)""",
)


@dataclass(frozen=True)
class BenchRow:
    """One model's result on one task's evaluation set."""

    run_at: float
    task: str
    provider: str
    model: str
    questions: int
    correct: int
    failures: int
    latency_ms: float | None
    set_version: str

    @property
    def accuracy(self) -> float:
        return self.correct / self.questions if self.questions else 0.0

    @property
    def date(self) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(self.run_at))

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.run_at)),
            "task": self.task,
            "provider": self.provider,
            "model": self.model,
            "questions": self.questions,
            "correct": self.correct,
            "accuracy": round(self.accuracy, 4),
            "failures": self.failures,
            "latency_ms": round(self.latency_ms, 1) if self.latency_ms is not None else None,
            "set_version": self.set_version,
        }


_BENCH_COLUMNS = tuple(f.name for f in fields(BenchRow))
_bench_values = attrgetter(*_BENCH_COLUMNS)


@dataclass(frozen=True)
class Answer:
    """Which model answered a run, as a vote needs it."""

    run_id: str
    task: str
    provider: str
    model: str


@dataclass
class _Evidence:
    latest: dict[tuple[str, str, str], BenchRow]
    votes: dict[tuple[str, str, str], tuple[int, int]]  # (up, down)


def _connect(path: Path) -> sqlite3.Connection:
    return connect_wal(path, _SCHEMA, busy_seconds=2.0)


class QualityStore(StateFile):
    """Thread-safe; one per state directory per process."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._start_afresh()
        if path is not None:
            self.open_on_first_use(_connect)  # remembering answers never touches the file
        self._stamp_path = None if path is None else path.with_name(path.name + ".stamp")
        self._read_stamp: tuple[int, int] | None = None
        self._read_once = False
        self._writes = 0  # this process's writes: they count even when the file is unusable
        self._checked: tuple[float, tuple[int, int] | None] = (-_STAMP_CHECK_S, None)
        self._evidence = _Evidence({}, {})
        self._bench_log: list[BenchRow] = []  # in memory only when the file is unusable
        self._answers: OrderedDict[str, Answer] = OrderedDict()
        restart_in_children(self)

    # -- reading ----------------------------------------------------------------------------

    def evidence(self) -> _Evidence:
        """The latest bench row and the votes per (task, provider, model)."""
        with self._lock:
            self._refresh()
            return self._evidence

    def version(self) -> tuple[int, tuple[int, int] | None]:
        """Changes at once when this process records a vote or a bench row, and within
        _STAMP_CHECK_S when another one does (one stat per interval)."""
        now = time.monotonic()
        checked_at, stamp = self._checked
        if now - checked_at >= _STAMP_CHECK_S:
            stamp = self._file_stamp()
            self._checked = (now, stamp)
        return self._writes, stamp

    def _file_stamp(self) -> tuple[int, int] | None:
        if self._stamp_path is None:
            return None
        try:
            stat = os.stat(self._stamp_path)
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def _stamp(self) -> None:
        """Tell other processes the file changed: a new stamp file (new inode and mtime)."""
        self._writes += 1
        if self._stamp_path is None or self._db is None:
            return
        fresh = self._stamp_path.with_name(f"{self._stamp_path.name}.{os.getpid()}")
        with contextlib.suppress(OSError):
            fresh.write_text(str(time.time_ns()), encoding="ascii")
            os.replace(fresh, self._stamp_path)

    def _refresh(self) -> None:
        if self._db is None:
            return
        stamp = self._file_stamp()
        if self._read_once and stamp == self._read_stamp:
            return
        try:
            self._evidence = self._read(self._db)
        except sqlite3.DatabaseError:
            return
        self._read_stamp, self._read_once = stamp, True

    @staticmethod
    def _read(db: sqlite3.Connection) -> _Evidence:
        latest: dict[tuple[str, str, str], BenchRow] = {}
        for row in db.execute(
            "SELECT run_at, task, provider, model, questions, correct, failures, latency_ms,"
            " set_version FROM bench ORDER BY run_at"
        ):
            bench = BenchRow(*row)
            latest[(bench.task, bench.provider, bench.model)] = bench
        votes: dict[tuple[str, str, str], tuple[int, int]] = {}
        for task, provider, model, up, down in db.execute(
            "SELECT task, provider, model, SUM(good), SUM(1 - good) FROM votes"
            " GROUP BY task, provider, model"
        ):
            votes[(task, provider, model)] = (int(up), int(down))
        return _Evidence(latest, votes)

    def history(self, task: str | None = None) -> list[BenchRow]:
        """Every bench row, oldest first (for plots and `--json`)."""
        with self._lock:
            if self._db is None:
                rows = list(self._bench_log)
            else:
                try:
                    rows = [
                        BenchRow(*r)
                        for r in self._db.execute(
                            "SELECT run_at, task, provider, model, questions, correct, failures,"
                            " latency_ms, set_version FROM bench ORDER BY run_at"
                        )
                    ]
                except sqlite3.DatabaseError:
                    rows = []
        return [r for r in rows if task is None or r.task == task]

    # -- writing ----------------------------------------------------------------------------

    def add_bench(self, rows: list[BenchRow]) -> None:
        with self._lock:
            for row in rows:
                self._evidence.latest[(row.task, row.provider, row.model)] = row
            if self._db is None:
                self._bench_log.extend(rows)
                self._stamp()
                return
            insert_all(self._db, "bench", _BENCH_COLUMNS, map(_bench_values, rows))
            self._stamp()

    def add_vote(self, answer: Answer, good: bool) -> tuple[int, int]:
        """Record a vote; return the (up, down) count for that task and model."""
        key = (answer.task, answer.provider, answer.model)
        with self._lock:
            self._refresh()
            up, down = self._evidence.votes.get(key, (0, 0))
            counts = (up + 1, down) if good else (up, down + 1)
            self._evidence.votes[key] = counts
            if self._db is not None:
                with contextlib.suppress(sqlite3.DatabaseError):
                    self._db.execute(
                        "INSERT INTO votes VALUES (?,?,?,?,?,?)",
                        (time.time(), *key, int(good), answer.run_id),
                    )
            self._stamp()
            return counts

    def remember(self, answer: Answer, *, persist: bool = False) -> None:
        """Keep who answered a run; `persist` writes it for a later process (the CLI)."""
        with self._lock:
            self._answers[answer.run_id] = answer
            self._answers.move_to_end(answer.run_id)
            if len(self._answers) > _MAX_ANSWERS:
                self._answers.popitem(last=False)
            if persist and self._db is not None:
                with contextlib.suppress(sqlite3.DatabaseError):
                    self._db.execute(
                        "INSERT OR REPLACE INTO answers VALUES (?,?,?,?,?)",
                        (answer.run_id, time.time(), answer.task, answer.provider, answer.model),
                    )
                    self._db.execute(
                        "DELETE FROM answers WHERE run_id NOT IN"
                        " (SELECT run_id FROM answers ORDER BY at DESC LIMIT ?)",
                        (_MAX_ANSWERS,),
                    )

    def answer(self, run_id: str | None) -> Answer | None:
        """The answer of this run (None: the latest one), from memory or the file."""
        with self._lock:
            if run_id is None and self._answers:
                return next(reversed(self._answers.values()))
            if run_id is not None and run_id in self._answers:
                return self._answers[run_id]
            if self._db is None:
                return None
            query = "SELECT run_id, task, provider, model FROM answers"
            try:
                if run_id is None:
                    row = self._db.execute(query + " ORDER BY at DESC LIMIT 1").fetchone()
                else:
                    row = self._db.execute(query + " WHERE run_id = ?", (run_id,)).fetchone()
            except sqlite3.DatabaseError:
                return None
        return Answer(*row) if row else None


quality_store = PerStateDir(
    lambda state_dir: QualityStore(state_dir / "quality.sqlite3"), default_state_dir
)
"""The process's quality store for a state directory (None: the user state dir)."""
