"""Health of each (provider, model), shared by every process through SQLite.

A candidate is *benched* until a time: after a 429/503 for as long as the
provider asked (Retry-After, X-RateLimit-Reset) or a default that doubles on
each repeat; after too many consecutive failures (one timeout is enough) by the circuit
breaker. A benched candidate gets no request until its time is up; then one
request (per process) is the half-open probe while the others still skip it:
success closes the circuit, failure benches it again for twice as long. The
breaker's bench never exceeds MAX_COOL_DOWN, so a provider that recovers is
probed, and used again, within that time.

Reads cost one `PRAGMA data_version` per request: the in-memory view is
reloaded only when another connection (another process) wrote. Writes are
merges, never copies: each process keeps what *it* changed since its last
flush (counts to add, a bench end to raise to) and applies that in SQL
(`failures = failures + ?`, `benched_until = MAX(benched_until, ?)`), so a
process with a stale view can neither erase another's bench nor lose its counts.

With a shared state server (`[state] url = "redis://..."`) the same changes also go
there (health._shared): a bench at once, the rest in batches from the state sync thread,
which also reads the other hosts' changes into memory, so a request never waits for the
server. While it is down, the state dir's view serves and the changes wait in an outbox.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from dataclasses import dataclass, replace
from pathlib import Path

from openmux.config import default_state_dir
from openmux.health._merge import MERGE, Change, Row, combine, parse_row
from openmux.health._shared import MERGE_SCRIPT, SPACE, merge_args, parse_record, record_name
from openmux.state import (
    PerStateDir,
    SharedState,
    SyncedFile,
    connect_wal,
    flush_at_exit,
    restart_in_children,
    state_backend,
)

PROVIDER_WIDE = "*"
FLUSH_SECONDS = 5.0
REFRESH_SECONDS = 0.05
MAX_ROWS = 2000
"""Rows kept (benched ones always): every distinct model string must not cost a row forever."""
ROW_TTL_SECONDS = 7 * 86400.0

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
_COLUMNS = (
    "provider, model, benched_until, reason, consecutive_failures, benches,"
    " successes, failures, p95_first_token_ms"
)
_PRUNE = """
DELETE FROM health WHERE benched_until < :now AND rowid NOT IN (
    SELECT rowid FROM health WHERE updated > :oldest ORDER BY updated DESC LIMIT :keep
)
"""


@dataclass(frozen=True)
class Bench:
    provider: str
    model: str
    until: float
    reason: str


def _connect(path: Path) -> sqlite3.Connection:
    probe = f"SELECT {_COLUMNS}, updated FROM health LIMIT 1"
    return connect_wal(path, [_SCHEMA, probe], busy_seconds=2.0)


class HealthStore(SyncedFile):
    """Thread-safe; one per state directory per process."""

    FAILURES_TO_OPEN = 3
    BASE_COOL_DOWN = 5.0
    MAX_COOL_DOWN = 15.0
    """The longest breaker bench: a provider that recovers is used again within about this
    long (plus the time to its next request), however long it was down."""
    PROBE_SECONDS = 5.0
    """How long one request's half-open probe keeps the others off the candidate at most."""

    def __init__(self, path: Path | None, shared: SharedState | None = None) -> None:
        self.path = path
        self._shared = shared
        self._start_afresh()
        self._rows: dict[tuple[str, str], Row] = {}
        if path is not None:
            self.open_file(_connect)
            self._prune()
        if shared is not None:
            self._sync()
            shared.on_sync(self._sync)
        restart_in_children(self)

    def _start_afresh(self) -> None:
        """At start, and in a forked child: the parent writes and sends its own changes
        and runs its own probes."""
        super()._start_afresh()
        self._pending: dict[tuple[str, str], Change] = {}
        self._outbox: dict[tuple[str, str], Change] = {}
        """Changes in the state dir (or memory) that the shared server has not had yet."""
        self._probes: dict[tuple[str, str], float] = {}
        """Candidates whose half-open probe is in flight in this process, and until when."""

    # -- reading ----------------------------------------------------------------------------

    def _refresh(self) -> None:
        # Other processes' writes are looked for at most every REFRESH_SECONDS: one
        # request's several reads then cost one query, and a bench still shows at once.
        now = time.monotonic()
        if self._db is None or now - self._checked < REFRESH_SECONDS:
            return
        if self._shared is not None and self._shared.up and self._shared_version is not None:
            return  # the sync thread keeps the view
        self._checked = now
        try:
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            if version == self._version:
                return
            raw_rows = self._db.execute(f"SELECT {_COLUMNS} FROM health").fetchall()
        except sqlite3.DatabaseError:
            return
        self._version = version
        rows: dict[tuple[str, str], Row] = {}
        for raw in raw_rows:
            parsed = parse_row(raw)
            if parsed is not None:
                rows[parsed[0]] = parsed[1]
        # What this process changed and has not written yet stays in its view.
        for key, change in self._pending.items():
            rows[key] = change.apply(rows.get(key, Row()))
        self._rows = rows

    def bench_of(
        self, provider: str, model: str, now: float | None = None, *, probe: bool = False
    ) -> Bench | None:
        """The bench in force for this candidate (its own or its provider's), if any.

        A bench that has run out is half-open. With `probe` (a caller about to send), the
        first such caller gets None and is the probe; until its outcome is recorded, the
        other callers get a short bench."""
        now = time.time() if now is None else now
        with self._lock:
            self._refresh()
            for key in ((provider, model), (provider, PROVIDER_WIDE)):
                row = self._rows.get(key)
                if row is None or row.benched_until <= 0:
                    continue
                if row.benched_until > now:
                    return Bench(provider, key[1], row.benched_until, row.reason)
                if not probe or key[1] == PROVIDER_WIDE:  # provider-wide: its models tell
                    continue
                probe_ends = self._probes.get(key, 0.0)
                if probe_ends > now:
                    return Bench(provider, key[1], probe_ends, f"{row.reason}; probe in flight")
                self._probes[key] = now + self.PROBE_SECONDS
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
        """Not known to be failing (little history, or mostly successes): a transient error
        is worth one quick retry."""
        with self._lock:
            row = self._rows.get((provider, model))
        if row is None:
            return True
        if row.benched_until > time.time():
            return False
        total = row.successes + row.failures
        return total < 5 or row.successes / total >= 0.8

    def p95_first_token_ms(self, provider: str, model: str) -> float | None:
        with self._lock:
            row = self._rows.get((provider, model))
        return row.p95_first_token_ms if row else None

    # -- writing ----------------------------------------------------------------------------

    def _change(self, key: tuple[str, str], change: Change) -> None:
        """Apply one event to the view and add it to what the next flush merges."""
        self._rows[key] = change.apply(self._rows.get(key, Row()))
        pending = self._pending.get(key)
        self._pending[key] = change if pending is None else combine(pending, change)
        if self._db is None and len(self._rows) > MAX_ROWS:
            self._forget_oldest()

    def flush(self) -> None:
        with self._lock:
            self._flush()
        self._push()

    def _flush(self) -> None:
        """Merge the pending changes into SQLite (the caller holds the lock)."""
        self._flushed = time.monotonic()
        if not self._pending:
            return  # and the file is left alone: in a forked child, unopened
        if self._db is None:
            self._queue_for_shared()
            self._pending.clear()
            return
        now = time.time()
        params = [
            {
                "provider": provider,
                "model": model,
                "successes": c.successes,
                "failures": c.failures,
                "reset": int(c.reset),
                "streak": c.streak,
                "benches": c.benches,
                "until": c.until,
                "reason": c.reason,
                "ended": c.ended,
                "p95": c.p95,
                "now": now,
            }
            for (provider, model), c in self._pending.items()
        ]
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO health (provider, model) VALUES (:provider, :model)",
                    params,
                )
                self._db.executemany(MERGE, params)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError:
            return  # kept pending: merged on the next flush, never lost
        self._queue_for_shared()
        self._pending.clear()
        self._version = None  # read back the merged rows, other processes' changes included
        self._checked = float("-inf")
        if len(self._rows) > MAX_ROWS:
            self._prune()

    # -- the shared server ---------------------------------------------------------------------

    def _queue_for_shared(self) -> None:
        """Add the pending changes to the outbox (lock held)."""
        if self._shared is None:
            return
        for key, change in self._pending.items():
            queued = self._outbox.get(key)
            self._outbox[key] = change if queued is None else combine(queued, change)

    def _push(self) -> None:
        """Merge the outbox into the shared server; on failure it waits for the next try."""
        if self._shared is None:
            return
        with self._push_lock:
            with self._lock:
                if not self._outbox:
                    return
                sending, self._outbox = self._outbox, {}
                self._sending += 1
            now = time.time()
            items = [
                ([record_name(*key)], merge_args(change, now, ROW_TTL_SECONDS))
                for key, change in sending.items()
            ]
            sent = self._shared.merge(SPACE, MERGE_SCRIPT, items)
            with self._lock:
                self._sending -= 1
                self._sent += 1
                if not sent:  # older than what was queued meanwhile
                    for key, change in self._outbox.items():
                        sending[key] = combine(sending[key], change) if key in sending else change
                    self._outbox = sending

    def _sync(self) -> None:
        """From the state sync thread: write the batch, then read others' changes."""
        assert self._shared is not None
        with self._lock:
            if self._pending and time.monotonic() - self._flushed > FLUSH_SECONDS:
                self._flush()
        self._push()
        sent = self._sent
        version = self._shared.version(SPACE)
        if version is None or version == self._shared_version:
            return
        records = self._shared.records(SPACE)
        if records is None:
            return
        rows: dict[tuple[str, str], Row] = {}
        for name, fields in records.items():
            parsed = parse_record(name, fields)
            if parsed is not None:
                rows[parsed[0]] = parsed[1]
        with self._lock:
            if self._sending or self._sent != sent:
                return  # a write went out meanwhile: read again next time
            for changes in (self._outbox, self._pending):
                for key, change in changes.items():
                    rows[key] = change.apply(rows.get(key, Row()))
            self._rows = rows
            self._shared_version = version

    def _prune(self) -> None:
        if self._db is None:
            return
        now = time.time()
        with contextlib.suppress(sqlite3.DatabaseError):
            self._db.execute(
                _PRUNE, {"now": now, "oldest": now - ROW_TTL_SECONDS, "keep": MAX_ROWS}
            )
            self._version = None

    def _forget_oldest(self) -> None:
        """In memory only: drop rows that are not benched, oldest first, down to MAX_ROWS."""
        now = time.time()
        for key in [k for k, row in self._rows.items() if row.benched_until <= now]:
            if len(self._rows) <= MAX_ROWS:
                break
            del self._rows[key]

    def record_success(
        self, provider: str, model: str, first_token_ms: float | None = None
    ) -> None:
        now = time.time()
        with self._lock:
            row = self._rows.get((provider, model), Row())
            # Only a change of state (a failure streak or a bench ending) must reach other
            # processes at once; plain success counts are flushed now and then.
            changed = row.consecutive_failures > 0 or row.benched_until > 0
            p95 = None
            if first_token_ms is not None:
                # An exponentially weighted high quantile: cheap, and enough to time hedges.
                previous = row.p95_first_token_ms
                if previous is None:
                    p95 = first_token_ms
                elif first_token_ms > previous:
                    p95 = previous + 0.3 * (first_token_ms - previous)
                else:
                    p95 = previous - 0.02 * (previous - first_token_ms)
            self._probes.pop((provider, model), None)
            self._change((provider, model), Change(successes=1, reset=True, ended=now, p95=p95))
            if changed or time.monotonic() - self._flushed > FLUSH_SECONDS:
                self._flush()
        if changed and self._shared is not None:
            self._shared.wake()

    def record_failure(
        self,
        provider: str,
        model: str,
        *,
        reason: str,
        bench_for: float | None = None,
        breaker: bool = True,
        failures_to_open: int | None = None,
        now: float | None = None,
    ) -> float:
        """Count a failure; bench for `bench_for` s or by the breaker (which opens after
        `failures_to_open` in a row, FAILURES_TO_OPEN unless given); return the bench end."""
        now = time.time() if now is None else now
        key = (provider, model)
        threshold = self.FAILURES_TO_OPEN if failures_to_open is None else failures_to_open
        with self._lock:
            self._refresh()
            self._probes.pop(key, None)
            row = self._rows.get(key, Row())
            if bench_for is None and breaker and row.consecutive_failures + 1 >= threshold:
                bench_for = self.cool_down(row.benches)
            change = Change(failures=1, streak=1)
            if bench_for is not None and bench_for > 0:
                change = replace(change, benches=1, until=now + bench_for, reason=reason)
            self._change(key, change)
            self._flush()
            self._refresh()
            until = self._rows.get(key, Row()).benched_until
        if change.benches:
            self._push()  # other hosts must see a bench within a second
        return until

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
            self._pending.clear()
            self._outbox.clear()  # the shared server's records are the other hosts' too
            self._probes.clear()
            if self._db is not None:
                with contextlib.suppress(sqlite3.DatabaseError):
                    self._db.execute("DELETE FROM health")


def _health_store(state_dir: Path) -> HealthStore:
    store = HealthStore(state_dir / "health.sqlite3", state_backend(state_dir).shared)
    flush_at_exit(store.flush)  # success counts still waiting for their batch
    return store


health_store = PerStateDir(_health_store, default_state_dir)
"""The process's health store for a state directory (None: the user state dir)."""
