"""Health of each (provider, model), shared by every process through SQLite.

A candidate is *benched* until a time: after a 429/503 for as long as the
provider asked (Retry-After, X-RateLimit-Reset) or a default that doubles on
each repeat; after too many consecutive failures by the circuit breaker. A
benched candidate gets no request until its time is up; the first request
after that is the half-open probe: success closes the circuit, failure benches
it again for twice as long.

Reads cost one `PRAGMA data_version` per request: the in-memory view is
reloaded only when another connection (another process) wrote.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PROVIDER_WIDE = "*"
FLUSH_SECONDS = 5.0
REFRESH_SECONDS = 0.05

_SCHEMA = """
CREATE TABLE IF NOT EXISTS health (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    benched_until REAL NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT '',
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    benches INTEGER NOT NULL DEFAULT 0,
    successes INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    p95_first_token_ms REAL,
    updated REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, model)
)
"""


@dataclass(frozen=True)
class Bench:
    provider: str
    model: str
    until: float
    reason: str


@dataclass
class _Row:
    benched_until: float = 0.0
    reason: str = ""
    consecutive_failures: int = 0
    benches: int = 0
    successes: int = 0
    failures: int = 0
    p95_first_token_ms: float | None = None


class HealthStore:
    """Thread-safe; one per state directory per process."""

    FAILURES_TO_OPEN = 3
    BASE_COOL_DOWN = 5.0
    MAX_COOL_DOWN = 600.0

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], _Row] = {}
        self._version: int | None = None
        self._dirty: set[tuple[str, str]] = set()
        self._checked = float("-inf")
        self._flushed = time.monotonic()
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._db = self._connect(path)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection | None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=2.0)
            db.execute("PRAGMA journal_mode=WAL")
            # Health is advice, not a ledger: skip the fsync per write.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
            return db
        except sqlite3.DatabaseError:
            # A corrupt or unwritable file must not stop answers: keep health in memory.
            return None

    # -- reading ----------------------------------------------------------------------------

    def _refresh(self) -> None:
        # Other processes' writes are looked for at most every REFRESH_SECONDS: one
        # request's several reads then cost one query, and a bench still shows at once.
        now = time.monotonic()
        if self._db is None or now - self._checked < REFRESH_SECONDS:
            return
        self._checked = now
        try:
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            if version == self._version:
                return
            rows = self._db.execute(
                "SELECT provider, model, benched_until, reason, consecutive_failures, benches,"
                " successes, failures, p95_first_token_ms FROM health"
            ).fetchall()
        except sqlite3.DatabaseError:
            return
        self._version = version
        self._rows = {(r[0], r[1]): _Row(*r[2:]) for r in rows}

    def bench_of(self, provider: str, model: str, now: float | None = None) -> Bench | None:
        """The bench in force for this candidate (its own or its provider's), if any."""
        now = time.time() if now is None else now
        with self._lock:
            self._refresh()
            for key in ((provider, model), (provider, PROVIDER_WIDE)):
                row = self._rows.get(key)
                if row is not None and row.benched_until > now:
                    return Bench(provider, key[1], row.benched_until, row.reason)
        return None

    def benches(self, now: float | None = None) -> list[Bench]:
        now = time.time() if now is None else now
        with self._lock:
            self._refresh()
            return [
                Bench(p, m, row.benched_until, row.reason)
                for (p, m), row in self._rows.items()
                if row.benched_until > now
            ]

    def usually_healthy(self, provider: str, model: str) -> bool:
        """Enough history, mostly successes: a transient error is worth one quick retry."""
        with self._lock:
            row = self._rows.get((provider, model))
        if row is None:
            return False
        total = row.successes + row.failures
        return total >= 5 and row.successes / total >= 0.8

    def p95_first_token_ms(self, provider: str, model: str) -> float | None:
        with self._lock:
            row = self._rows.get((provider, model))
        return row.p95_first_token_ms if row else None

    # -- writing ----------------------------------------------------------------------------

    def _write(self, provider: str, model: str, row: _Row) -> None:
        self._rows[(provider, model)] = row
        self._dirty.add((provider, model))
        self._flush()

    def _flush(self) -> None:
        """Write the changed rows (the caller holds the lock)."""
        self._flushed = time.monotonic()
        if self._db is None or not self._dirty:
            self._dirty.clear()
            return
        now = time.time()
        rows = []
        for provider, model in self._dirty:
            row = self._rows[(provider, model)]
            rows.append(
                (
                    provider,
                    model,
                    row.benched_until,
                    row.reason,
                    row.consecutive_failures,
                    row.benches,
                    row.successes,
                    row.failures,
                    row.p95_first_token_ms,
                    now,
                )
            )
        self._dirty.clear()
        with contextlib.suppress(sqlite3.DatabaseError):
            self._db.executemany("INSERT OR REPLACE INTO health VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
            self._version = self._db.execute("PRAGMA data_version").fetchone()[0]

    def record_success(
        self, provider: str, model: str, first_token_ms: float | None = None
    ) -> None:
        with self._lock:
            row = self._rows.get((provider, model), _Row())
            # Only a change of state (a failure streak or a bench ending) must reach other
            # processes at once; plain success counts are flushed now and then.
            changed = row.consecutive_failures > 0 or row.benched_until > 0
            row.consecutive_failures = 0
            row.benches = 0
            row.benched_until = 0.0
            row.reason = ""
            row.successes += 1
            if first_token_ms is not None:
                # An exponentially weighted high quantile: cheap, and enough to time hedges.
                previous = row.p95_first_token_ms
                if previous is None:
                    row.p95_first_token_ms = first_token_ms
                elif first_token_ms > previous:
                    row.p95_first_token_ms = previous + 0.3 * (first_token_ms - previous)
                else:
                    row.p95_first_token_ms = previous - 0.02 * (previous - first_token_ms)
            self._rows[(provider, model)] = row
            self._dirty.add((provider, model))
            if changed or time.monotonic() - self._flushed > FLUSH_SECONDS:
                self._flush()

    def record_failure(
        self,
        provider: str,
        model: str,
        *,
        reason: str,
        bench_for: float | None = None,
        breaker: bool = True,
        now: float | None = None,
    ) -> float:
        """Count a failure; bench for `bench_for` s or by the breaker; return the bench end."""
        now = time.time() if now is None else now
        with self._lock:
            self._refresh()
            row = self._rows.get((provider, model), _Row())
            row.failures += 1
            row.consecutive_failures += 1
            if bench_for is None and breaker and row.consecutive_failures >= self.FAILURES_TO_OPEN:
                bench_for = self.cool_down(row.benches)
            if bench_for is not None and bench_for > 0:
                row.benches += 1
                row.benched_until = max(row.benched_until, now + bench_for)
                row.reason = reason
            self._write(provider, model, row)
            return row.benched_until

    def default_bench(self, provider: str, model: str) -> float:
        """How long to bench after a rate limit that named no time: doubles on each repeat."""
        with self._lock:
            row = self._rows.get((provider, model))
        return self.cool_down(row.benches if row else 0)

    def cool_down(self, benches: int) -> float:
        return float(min(self.MAX_COOL_DOWN, self.BASE_COOL_DOWN * (2 ** min(benches, 16))))

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()
            if self._db is not None:
                with contextlib.suppress(sqlite3.DatabaseError):
                    self._db.execute("DELETE FROM health")


_stores: dict[Path | None, HealthStore] = {}
_stores_lock = threading.Lock()


def health_store(state_dir: Path | None) -> HealthStore:
    """The process's store for this state directory (None: the user state dir)."""
    if state_dir is None:
        from openmux.config import default_state_dir

        state_dir = default_state_dir()
    with _stores_lock:
        store = _stores.get(state_dir)
        if store is None:
            store = HealthStore(state_dir / "health.sqlite3")
            _stores[state_dir] = store
        return store
