"""Every attempt, recorded: provider, model, task, tokens in/out, latency, status, cached.

Rows are kept in memory and written in batches (every FLUSH_SECONDS or BATCH rows, and
at exit) from a thread of their own, so recording costs no file access on a request's
path (a server's event loop never waits for the disk). Retention is bounded:
rows older than KEEP_DAYS go, and at most MAX_ROWS stay. Never a prompt or an answer.

With a shared state server the rows also go to its "usage" log (from the state sync
thread, never a request), and `rows` reads that log, so `openmux stats` sums every host.
Rows the server has not had yet wait in an outbox while it is down.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass, fields
from operator import attrgetter
from pathlib import Path
from typing import Any

from openmux.config import default_state_dir
from openmux.state import (
    PerStateDir,
    SharedState,
    StateFile,
    connect_wal,
    flush_at_exit,
    insert_all,
    restart_in_children,
    state_backend,
)

FLUSH_SECONDS = 2.0
BATCH = 50
"""Rows per write under load. A write is a burst of CPU (about 5 µs a row) that the
requests being served meanwhile share: at 500 rows one request in 500 waited 2.5-4.5 ms
longer on a 2-core machine; at 50 none stands out."""
KEEP_DAYS = 90
MAX_ROWS = 200_000
SPACE = "usage"


@dataclass(frozen=True)
class UsageRecord:
    at: float
    provider: str
    model: str
    task: str
    status: str
    """"ok" or the failure kind (see the attempt metadata); "over_quota" was never sent."""
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    cached: bool = False
    """An answer replayed from the response cache: no request, no tokens."""

    @property
    def sent(self) -> bool:
        """Whether a request reached the provider (a skip or a cache hit did not)."""
        return not self.cached and self.status not in NOT_SENT


NOT_SENT = frozenset({"over_quota", "not_free", "circuit_open"})
_COLUMNS = tuple(f.name for f in fields(UsageRecord))
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS attempts (
    at REAL NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, task TEXT NOT NULL,
    status TEXT NOT NULL, tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,
    latency_ms REAL NOT NULL, cached INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_at ON attempts (at);
SELECT {", ".join(_COLUMNS)} FROM attempts LIMIT 1;
"""


def _row(values: tuple[Any, ...]) -> UsageRecord:
    record = dict(zip(_COLUMNS, values, strict=True))
    record["cached"] = bool(record["cached"])
    return UsageRecord(**record)


# A row's column values as one tuple, read in C (dataclasses.astuple deep-copies every
# field, and Python code in the writer thread holds the GIL against the event loop).
_values = attrgetter(*_COLUMNS)


def _encode(row: UsageRecord) -> bytes:
    return json.dumps(_values(row)).encode()


def _decode(item: bytes) -> UsageRecord | None:
    try:
        return _row(tuple(json.loads(item)))
    except (ValueError, TypeError):
        return None  # a damaged or foreign entry


def _connect(path: Path) -> sqlite3.Connection:
    return connect_wal(path, filter(str.strip, _SCHEMA.split(";")))


class UsageLog(StateFile):
    """Thread-safe; one per state directory per process."""

    def __init__(self, path: Path | None, shared: SharedState | None = None) -> None:
        self.path = path
        self._shared = shared
        self._start_afresh()
        self._kept: list[UsageRecord] = []  # no usable file: the rows live here, bounded
        if path is not None:
            self.open_file(_connect)
            self._prune()
        if shared is not None:
            shared.on_sync(self._sync)
        restart_in_children(self)

    def _start_afresh(self) -> None:
        """At start, and in a forked child: the parent writes its own pending rows; the
        writer thread did not survive."""
        super()._start_afresh()
        self._push_lock = threading.Lock()
        """Held over a batch's send, so that a flush (at exit, say) waits for it."""
        self._pending: list[UsageRecord] = []
        self._outbox: list[UsageRecord] = []
        """Rows in the state dir (or memory) that the shared server has not had yet."""
        self._flushed = time.monotonic()
        self._flushing = False
        """A due batch is waiting for the writer thread or being written."""
        self._due = threading.Event()
        self._writer: threading.Thread | None = None

    def _file_locks(self) -> tuple[threading.Lock, ...]:
        return (self._push_lock, self._lock)  # the writer uses the file under the first alone

    def record(self, row: UsageRecord) -> None:
        with self._lock:
            self._pending.append(row)
            due = len(self._pending) >= BATCH or time.monotonic() - self._flushed > FLUSH_SECONDS
            if due and not self._flushing:
                self._flushing = True
                self._flushed = time.monotonic()
                self._wake_writer()

    def _wake_writer(self) -> None:
        """Hand the due batch to the writer thread (lock held). One thread lives for the
        process (again after a fork): starting one per batch made the request that started
        it wait for the new thread, and then for the GIL it took."""
        if self._writer is None or not self._writer.is_alive():
            self._writer = threading.Thread(
                target=self._write_behind, name="openmux-usage-flush", daemon=True
            )
            self._writer.start()
        self._due.set()

    def _write_behind(self) -> None:
        """Due batches, written off the request's path (`flush` at exit waits for one)."""
        while True:
            self._due.wait()
            self._due.clear()
            try:
                with self._push_lock:
                    self._flush()
            finally:
                self._flushing = False

    def flush(self) -> None:
        with self._push_lock:
            self._flush()
            with self._lock:
                self._push()

    def _push(self) -> None:
        """Append the outbox to the shared log (lock held); kept when the server is down."""
        if self._shared is None or not self._outbox:
            return
        if self._shared.append(SPACE, [_encode(r) for r in self._outbox], MAX_ROWS):
            self._outbox.clear()

    def _sync(self) -> None:
        """From the state sync thread; a request never waits for the server's answer."""
        assert self._shared is not None
        with self._push_lock:
            with self._lock:
                due = bool(self._pending) and time.monotonic() - self._flushed > FLUSH_SECONDS
            if due:
                self._flush()
            with self._lock:
                sending, self._outbox = self._outbox, []
            if not sending or self._shared.append(SPACE, [_encode(r) for r in sending], MAX_ROWS):
                return
            with self._lock:  # kept, in order, for the next try
                self._outbox = (sending + self._outbox)[-MAX_ROWS:]

    def _flush(self) -> None:
        """Write the pending rows (push lock held). The file write holds only the push
        lock, so `record` keeps taking rows meanwhile."""
        with self._lock:
            batch = self._take()
        if batch and not self._write(batch):
            with self._lock:
                self._give_back(batch)

    def _take(self) -> list[UsageRecord]:
        """The pending rows to write to the file (lock held), queued for the shared log
        too; none when there is no usable file (they are kept in memory instead)."""
        self._flushed = time.monotonic()
        if not self._pending:
            return []  # and the file is left alone: in a forked child, unopened
        batch, self._pending = self._pending, []
        if self._shared is not None:
            self._outbox = (self._outbox + batch)[-MAX_ROWS:]
        if self._db is None:
            self._kept = (self._kept + batch)[-MAX_ROWS:]
            return []
        return batch

    def _write(self, batch: list[UsageRecord]) -> bool:
        """Append rows to the file (push lock held); False when it could not."""
        assert self._db is not None
        return insert_all(self._db, "attempts", _COLUMNS, map(_values, batch))

    def _give_back(self, batch: list[UsageRecord]) -> None:
        """A batch the file refused (lock held): pending again, first, for the next write,
        and out of the shared queue, where the next write queues it again."""
        self._pending[:0] = batch
        if self._shared is not None:
            self._outbox = self._outbox[: -len(batch)]

    def _prune(self) -> None:
        if self._db is None:
            return
        with contextlib.suppress(sqlite3.DatabaseError):
            self._db.execute(
                "DELETE FROM attempts WHERE at < ?", (time.time() - KEEP_DAYS * 86400,)
            )
            self._db.execute(
                "DELETE FROM attempts WHERE rowid <= "
                "(SELECT rowid FROM attempts ORDER BY rowid DESC LIMIT 1 OFFSET ?)",
                (MAX_ROWS,),
            )

    def rows(self, since: float = 0.0) -> list[UsageRecord]:
        """Every recorded attempt since `since` (epoch s), this process's unwritten ones too."""
        with self._push_lock:
            self._flush()
            with self._lock:
                self._prune()
                shared = self._shared_rows(since)
                if shared is not None:
                    return shared
                if self._db is None:
                    return [row for row in self._kept + self._pending if row.at >= since]
                try:
                    found = self._db.execute(
                        f"SELECT {', '.join(_COLUMNS)} FROM attempts WHERE at >= ? ORDER BY at",
                        (since,),
                    ).fetchall()
                except sqlite3.DatabaseError:
                    found = []
                return [_row(values) for values in found] + [
                    row for row in self._pending if row.at >= since
                ]

    def _shared_rows(self, since: float) -> list[UsageRecord] | None:
        """Every host's rows from the shared log (lock held); None when it cannot be read."""
        if self._shared is None or not self._shared.up:
            return None
        self._push()
        items = self._shared.items(SPACE)
        if items is None:
            return None
        found = [row for row in map(_decode, items) if row is not None and row.at >= since]
        return sorted(found + [row for row in self._outbox if row.at >= since], key=lambda r: r.at)

    def clear(self) -> None:
        with self._push_lock, self._lock:  # no batch write in flight: it would outlive this
            self._pending.clear()
            self._outbox.clear()  # the shared log is the other hosts' too
            self._kept.clear()
            if self._db is not None:
                with contextlib.suppress(sqlite3.DatabaseError):
                    self._db.execute("DELETE FROM attempts")


def _usage_log(state_dir: Path) -> UsageLog:
    log = UsageLog(state_dir / "usage.sqlite3", state_backend(state_dir).shared)
    flush_at_exit(log.flush)  # rows still waiting for their batch
    return log


usage_log = PerStateDir(_usage_log, default_state_dir)
"""The process's attempt records for a state directory (None: the user state dir)."""
