"""The default backend: SQLite files in the state dir, shared by one machine's processes.

Blobs live in `state.sqlite3` (WAL, so readers never wait for a writer). A file that
cannot be used keeps them in memory, bounded, for this process only.

Blobs take at most about MAX_BYTES (cached answers with images or audio would otherwise
grow the file by their size for a whole TTL): past it, those that expire soonest go.
Each process prunes after every MAX_BYTES // 8 it wrote, so with several writers the
file can pass the limit by that much per process before it shrinks back.
"""

from __future__ import annotations

import sqlite3
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from openmux.state._files import connect_wal
from openmux.state._fork import StateFile, restart_in_children

MEMORY_BLOBS = 1000
"""Entries kept in memory when the file cannot be used."""
PRUNE_EVERY = 256
"""Expired blobs are deleted after this many writes (reads skip them anyway)."""
MAX_BYTES = 256 * 1024 * 1024
"""Blobs kept at most, in the file or in memory."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blobs (
    space TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (space, key)
)
"""


def _connect(path: Path) -> sqlite3.Connection:
    return connect_wal(path, [_SCHEMA, "SELECT space, key, value, expires FROM blobs LIMIT 1"])


class SqliteBackend(StateFile):
    """Thread-safe; one per state dir per process (see `state_backend`)."""

    name: Literal["sqlite"] = "sqlite"
    shared = None

    def __init__(self, state_dir: Path, max_bytes: int = MAX_BYTES) -> None:
        self.state_dir = state_dir
        self.path = state_dir / "state.sqlite3"
        self.max_bytes = max_bytes
        self._start_afresh()
        self._memory: OrderedDict[tuple[str, str], tuple[bytes, float]] = OrderedDict()
        self._memory_bytes = 0
        self._writes = 0
        self._written_bytes = 0
        """Written since the last prune."""
        self.open_file(_connect)
        restart_in_children(self)

    def get_blob(self, space: str, key: str) -> bytes | None:
        now = time.time()
        with self._lock:
            if self._db is None:
                found = self._memory.get((space, key))
                return found[0] if found and found[1] > now else None
            try:
                row = self._db.execute(
                    "SELECT value FROM blobs WHERE space = ? AND key = ? AND expires > ?",
                    (space, key, now),
                ).fetchone()
            except sqlite3.DatabaseError:
                return None
        return bytes(row[0]) if row else None

    def put_blob(self, space: str, key: str, value: bytes, ttl_s: float) -> None:
        now = time.time()
        if len(value) > self.max_bytes // 4:
            return  # not kept: it would push out most of the others
        with self._lock:
            if self._db is None:
                self._remember(space, key, bytes(value), now + ttl_s)
                return
            self._writes += 1
            self._written_bytes += len(value)
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO blobs (space, key, value, expires) VALUES (?, ?, ?, ?)",
                    (space, key, sqlite3.Binary(value), now + ttl_s),
                )
                if self._writes % PRUNE_EVERY == 0 or self._written_bytes > self.max_bytes // 8:
                    self._prune(self._db, now)
            except sqlite3.DatabaseError:
                return  # the cache is advice: a busy or broken file skips this entry

    def _prune(self, db: sqlite3.Connection, now: float) -> None:
        """Drop expired blobs, then, past max_bytes, those expiring soonest until the rest
        fill three quarters of it (so that the next writes do not prune again at once)."""
        self._written_bytes = 0
        db.execute("DELETE FROM blobs WHERE expires <= ?", (now,))
        total = db.execute("SELECT COALESCE(SUM(LENGTH(value)), 0) FROM blobs").fetchone()[0]
        if total <= self.max_bytes:
            return
        excess = total - self.max_bytes * 3 // 4
        cutoff = now
        soonest_first = db.execute("SELECT expires, LENGTH(value) FROM blobs ORDER BY expires")
        for expires, size in soonest_first:
            cutoff, excess = expires, excess - size
            if excess <= 0:
                break
        db.execute("DELETE FROM blobs WHERE expires <= ?", (cutoff,))

    def _remember(self, space: str, key: str, value: bytes, expires: float) -> None:
        """Keep a blob in memory, the oldest going past MEMORY_BLOBS or max_bytes."""
        old = self._memory.pop((space, key), None)
        if old is not None:
            self._memory_bytes -= len(old[0])
        self._memory[(space, key)] = (value, expires)
        self._memory_bytes += len(value)
        while len(self._memory) > MEMORY_BLOBS or self._memory_bytes > self.max_bytes:
            _, (dropped, _) = self._memory.popitem(last=False)
            self._memory_bytes -= len(dropped)

    def blobs(self, space: str) -> Iterator[tuple[str, bytes]]:
        now = time.time()
        with self._lock:
            if self._db is None:
                found = [
                    (k, v)
                    for (s, k), (v, ends) in self._memory.items()
                    if s == space and ends > now
                ]
            else:
                try:
                    found = [
                        (key, bytes(value))
                        for key, value in self._db.execute(
                            "SELECT key, value FROM blobs WHERE space = ? AND expires > ?",
                            (space, now),
                        ).fetchall()
                    ]
                except sqlite3.DatabaseError:
                    found = []
        yield from found

    def describe(self) -> str:
        return f"sqlite:///{self.state_dir}" if self._db is not None else "sqlite (in memory)"

    def check(self) -> str:
        return self.problem
