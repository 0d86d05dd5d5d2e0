"""Request and token counters per quota scope, shared by every process through SQLite.

Counting happens in memory: a check reads this process's view of the shared counters
plus what it counted itself and has not written yet, and touches no file. Counts go
out in batches (every FLUSH_SECONDS) and other processes' writes are looked for at most
every REFRESH_SECONDS (one `PRAGMA data_version`). Near a limit, batching could let
several processes each send the last allowed request, so within NEAR of any limit a
reservation is one short SQLite transaction instead (read the shared count, add,
commit): exact across processes, paid only where it matters.

Windows: requests and tokens per rolling minute (one bucket per second) and per quota
day (one bucket per day, keyed by the epoch second the day began). A state file that
cannot be used leaves the counters in memory: a request never fails for it.

With a shared state server the counts also go there (quotas._shared), in batches from
the state sync thread, which reads the other hosts' counts into memory; near a limit the
reservation is one atomic script on the server instead of the SQLite transaction. While
the server is down, this host counts in its state dir and its counts wait in an outbox.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from openmux.config import default_state_dir
from openmux.quotas._counts import (
    ADD_COUNTS,
    CHECKS,
    MINUTE,
    MINUTE_WINDOWS,
    REQUESTS_PER_DAY,
    REQUESTS_PER_MINUTE,
    TOKENS_PER_DAY,
    TOKENS_PER_MINUTE,
    Blocked,
    Buckets,
    Key,
    add_counts,
    connect,
    flat_rows,
    minute_frees_at,
)
from openmux.quotas._limits import DayReset, Limits, day_start, next_reset
from openmux.quotas._shared import push_counts, push_learned, reserve_on, snapshot
from openmux.state import (
    PerStateDir,
    SharedState,
    SyncedFile,
    flush_at_exit,
    restart_in_children,
    state_backend,
)

FLUSH_SECONDS = 1.0
REFRESH_SECONDS = 0.05
NEAR = 16
"""Closer than this to any limit, a reservation is written through at once."""
KEEP_DAYS = 3


class QuotaStore(SyncedFile):
    """Thread-safe; one per state directory per process."""

    def __init__(self, path: Path | None, shared: SharedState | None = None) -> None:
        self.path = path
        self._shared = shared
        self._start_afresh()
        self._view: dict[Key, Buckets] = {}
        self._learned: dict[str, dict[str, Any]] = {}
        self.generation = 0
        """Grows whenever learned limits change."""
        self._days: dict[DayReset, tuple[float, int]] = {}
        if path is not None:
            self.open_file(connect)
            self._refresh(time.time(), force=True)
        if shared is not None:
            self._sync()
            shared.on_sync(self._sync)
        restart_in_children(self)

    def _start_afresh(self) -> None:
        """At start, and in a forked child: the parent writes and sends its own counts;
        the child reads them back."""
        super()._start_afresh()
        self._pending: dict[Key, Buckets] = {}
        self._outbox: dict[Key, Buckets] = {}
        """Counts in the state dir (or memory) that the shared server has not had yet."""
        self._learned_outbox: dict[str, str] = {}
        self._local_only: list[tuple[str, str, int, int]] = []
        """Counts the shared server already has, still to be added to the state dir."""

    # -- reading ----------------------------------------------------------------------------

    def _today(self, reset: DayReset, now: float) -> int:
        cached = self._days.get(reset)
        if cached is None or now >= cached[0]:
            cached = (next_reset(now, reset), int(day_start(now, reset)))
            self._days[reset] = cached
        return cached[1]

    def _refresh(self, now: float, *, force: bool = False) -> None:
        """Read other processes' counts when they wrote (the caller holds the lock)."""
        monotonic = time.monotonic()
        if self._db is None or (not force and monotonic - self._checked < REFRESH_SECONDS):
            return
        if self._shared is not None and self._shared.up and self._shared_version is not None:
            return  # the sync thread keeps the view
        self._checked = monotonic
        try:
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            if version == self._version and not force:
                return
            rows = self._db.execute(
                "SELECT scope, window, bucket, n FROM quota_counts "
                "WHERE window IN ('d', 'D') OR bucket > ?",
                (int(now) - MINUTE,),
            ).fetchall()
            learned = self._db.execute("SELECT scope, changes FROM quota_learned").fetchall()
        except sqlite3.DatabaseError:
            return
        self._version = version
        view: dict[Key, Buckets] = {}
        for scope, window, bucket, n in rows:
            view.setdefault((scope, window), {})[int(bucket)] = int(n)
        self._view = view
        changes = {}
        for scope, text in learned:
            with contextlib.suppress(ValueError, TypeError):
                changes[scope] = dict(json.loads(text))
        if changes != self._learned:
            self._learned = changes
            self.generation += 1

    def _used(self, scope: str, window: str, now: float, today: int) -> int:
        """The shared count as last read plus this process's unwritten one (lock held)."""
        key = (scope, window)
        view, pending = self._view.get(key), self._pending.get(key)
        if window not in MINUTE_WINDOWS:
            return (view.get(today, 0) if view else 0) + (pending.get(today, 0) if pending else 0)
        oldest = int(now) - MINUTE
        total = 0
        for buckets in (view, pending):
            if buckets:
                for bucket, n in buckets.items():
                    if bucket > oldest:
                        total += n
        return total

    def _verdict(
        self, scope: str, limits: Limits, tokens: int, now: float
    ) -> tuple[Blocked | None, int]:
        """(what blocks one more request, or None; the least headroom left after it)."""
        today = self._today(limits.reset, now)
        headroom = NEAR
        for name, window in CHECKS:
            limit = getattr(limits, name)
            if limit is None:
                continue
            need = 1 if window in (REQUESTS_PER_MINUTE, REQUESTS_PER_DAY) else tokens
            used = self._used(scope, window, now, today)
            if used + need > limit:
                return Blocked(
                    name, limit, self._frees_at(scope, window, limit, need, now, limits)
                ), 0
            headroom = min(headroom, limit - used - need)
        return None, headroom

    def _frees_at(
        self, scope: str, window: str, limit: int, need: int, now: float, limits: Limits
    ) -> float:
        if window not in MINUTE_WINDOWS:
            return self._days[limits.reset][0]
        key = (scope, window)
        return minute_frees_at((self._view.get(key), self._pending.get(key)), limit, need, now)

    def over(
        self, scope: str, limits: Limits, tokens: int = 0, now: float | None = None
    ) -> Blocked | None:
        """What one more request of about `tokens` would go over, without counting it."""
        now = time.time() if now is None else now
        with self._lock:
            self._refresh(now)
            return self._verdict(scope, limits, tokens, now)[0]

    def used(self, scope: str, limits: Limits, now: float | None = None) -> dict[str, int]:
        """Requests and tokens counted now against each of the limits' windows."""
        now = time.time() if now is None else now
        with self._lock:
            self._refresh(now)
            today = self._today(limits.reset, now)
            return {name: self._used(scope, window, now, today) for name, window in CHECKS}

    def learned(self, scope: str) -> Mapping[str, Any]:
        return self._learned.get(scope, {})

    # -- counting ---------------------------------------------------------------------------

    def reserve(
        self, scope: str, limits: Limits, tokens: int = 0, now: float | None = None
    ) -> Blocked | None:
        """Count one request of about `tokens` unless it would go over a limit."""
        now = time.time() if now is None else now
        with self._lock:
            self._refresh(now)
            blocked, headroom = self._verdict(scope, limits, tokens, now)
            if blocked is not None:
                return blocked
            counts = self._counts(scope, limits, 1, tokens, now)
            if headroom < NEAR and self._shared is not None and self._shared.up:
                done, verdict = self._reserve_shared(scope, limits, tokens, now, counts)
                if done:
                    return verdict
            if self._db is not None and headroom < NEAR:
                return self._reserve_through(scope, limits, tokens, now, counts)
            self._add_pending(counts)
            if time.monotonic() - self._flushed > FLUSH_SECONDS:
                self._flush(now)
            return None

    def _counts(
        self, scope: str, limits: Limits, requests: int, tokens: int, now: float
    ) -> list[tuple[str, str, int, int]]:
        today = self._today(limits.reset, now)
        second = int(now)
        rows = []
        if requests:
            rows += [
                (scope, REQUESTS_PER_MINUTE, second, requests),
                (scope, REQUESTS_PER_DAY, today, requests),
            ]
        if tokens:
            rows += [
                (scope, TOKENS_PER_MINUTE, second, tokens),
                (scope, TOKENS_PER_DAY, today, tokens),
            ]
        return rows

    def _add_pending(self, counts: Iterable[tuple[str, str, int, int]]) -> None:
        add_counts(self._pending, counts)

    def _reserve_through(
        self,
        scope: str,
        limits: Limits,
        tokens: int,
        now: float,
        counts: list[tuple[str, str, int, int]],
    ) -> Blocked | None:
        """Check and count in one transaction, this process's pending counts written too."""
        assert self._db is not None
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                written = self._write_pending(db)
                rows = db.execute(
                    "SELECT window, bucket, n FROM quota_counts WHERE scope = ? "
                    "AND (window IN ('d', 'D') OR bucket > ?)",
                    (scope, int(now) - MINUTE),
                ).fetchall()
                for window in (w for _, w in CHECKS):
                    self._view.pop((scope, window), None)
                for window, bucket, n in rows:
                    self._view.setdefault((scope, window), {})[int(bucket)] = int(n)
                blocked, _ = self._verdict(scope, limits, tokens, now)
                if blocked is None:
                    db.executemany(ADD_COUNTS, counts)
                    self._merge_into_view(counts)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError:
            # The shared file is busy or broken: count here, never fail the request.
            self._version = None  # the view of this scope is read again
            self._add_pending(counts)
            return None
        self._merge_into_view(row for row in written if row[0] != scope)
        self._queue_for_shared(written if blocked else [*written, *counts])
        self._pending.clear()
        self._flushed = time.monotonic()
        return blocked

    def add_tokens(self, scope: str, limits: Limits, tokens: int, now: float | None = None) -> None:
        """Tokens used beyond what the reservation counted (the answer's, say)."""
        if tokens <= 0:
            return
        now = time.time() if now is None else now
        with self._lock:
            self._add_pending(self._counts(scope, limits, 0, tokens, now))

    def raise_used(
        self, scope: str, limits: Limits, limit_name: str, used: int, now: float | None = None
    ) -> None:
        """The provider says `used` of a limit is gone: count at least that much."""
        now = time.time() if now is None else now
        window = dict(CHECKS)[limit_name]
        with self._lock:
            self._refresh(now)
            today = self._today(limits.reset, now)
            missing = used - self._used(scope, window, now, today)
            if missing <= 0:
                return
            bucket = int(now) if window in MINUTE_WINDOWS else today
            self._add_pending([(scope, window, bucket, missing)])
            self._flush(now)

    def learn(self, scope: str, changes: Mapping[str, Any]) -> None:
        """Limits the provider revealed (headers, a 429 body) for this scope."""
        with self._lock:
            merged = {**self._learned.get(scope, {}), **changes}
            if merged == self._learned.get(scope):
                return
            self._learned[scope] = merged
            self.generation += 1
            if self._shared is not None:
                self._learned_outbox[scope] = json.dumps(merged)
            if self._db is not None:
                with contextlib.suppress(sqlite3.DatabaseError):
                    self._db.execute(
                        "INSERT OR REPLACE INTO quota_learned (scope, changes, updated) "
                        "VALUES (?, ?, ?)",
                        (scope, json.dumps(merged), time.time()),
                    )

    # -- writing ----------------------------------------------------------------------------

    def _merge_into_view(self, counts: Iterable[tuple[str, str, int, int]]) -> None:
        add_counts(self._view, counts)

    def _pending_rows(self) -> list[tuple[str, str, int, int]]:
        return flat_rows(self._pending)

    def _write_pending(self, db: sqlite3.Connection) -> list[tuple[str, str, int, int]]:
        """Add this process's pending counts in the open transaction; return them."""
        rows = self._pending_rows()
        if rows:
            db.executemany(ADD_COUNTS, rows)
        return rows

    def flush(self) -> None:
        with self._push_lock, self._lock:
            self._flush(time.time())
            if self._shared is not None:
                self._push()

    def _flush(self, now: float) -> None:
        self._flushed = time.monotonic()
        if not self._pending and not self._local_only:
            return  # and the file is left alone: in a forked child, unopened
        if self._db is None:
            self._merge_into_view(self._pending_rows())
            self._queue_for_shared(self._pending_rows())
            self._pending.clear()
            self._local_only.clear()
            return
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                written = self._write_pending(db)
                db.executemany(ADD_COUNTS, self._local_only)
                db.execute(
                    "DELETE FROM quota_counts WHERE (window IN ('m', 'M') AND bucket < ?) "
                    "OR bucket < ?",
                    (int(now) - 2 * MINUTE, int(now) - KEEP_DAYS * 86400),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError:
            return  # kept pending: written with the next batch
        self._merge_into_view(written)
        self._queue_for_shared(written)
        self._pending.clear()
        self._local_only.clear()

    # -- the shared server (the caller holds the lock, unless said) -----------------------------

    def _queue_for_shared(self, rows: Iterable[tuple[str, str, int, int]]) -> None:
        if self._shared is not None:
            add_counts(self._outbox, rows)

    def _push(self) -> bool:
        """Write the outbox to the shared server; False (kept for later) when it is down."""
        assert self._shared is not None
        if push_learned(self._shared, self._learned_outbox):
            self._learned_outbox.clear()
        if not self._outbox:
            return True
        self._sent += 1
        if not push_counts(self._shared, self._outbox, MINUTE_WINDOWS):
            return False
        self._outbox.clear()
        return True

    def _reserve_shared(
        self,
        scope: str,
        limits: Limits,
        tokens: int,
        now: float,
        counts: list[tuple[str, str, int, int]],
    ) -> tuple[bool, Blocked | None]:
        """Check and count on the shared server in one step: (whether it could, the verdict).

        No file is touched: the counts reach the state dir with the next batch."""
        assert self._shared is not None
        pending = self._pending_rows()  # the server must count them before it checks
        self._merge_into_view(pending)
        self._queue_for_shared(pending)
        self._local_only += pending
        self._pending.clear()
        if not self._push():
            return False, None
        self._sent += 1
        answer = reserve_on(
            self._shared, scope, limits, tokens, now, self._today(limits.reset, now)
        )
        if answer is None:
            return False, None
        counted, by_window = answer
        for window, buckets in by_window.items():
            self._view[(scope, window)] = buckets
        if counted:
            self._local_only += counts
        return True, None if counted else self._verdict(scope, limits, tokens, now)[0]

    def _sync(self) -> None:
        """From the state sync thread: write the batch, then read the others' counts. The
        lock is never held over a round trip, so requests do not wait for the server."""
        assert self._shared is not None
        with self._push_lock:
            with self._lock:
                if self._pending and time.monotonic() - self._flushed > FLUSH_SECONDS:
                    self._flush(time.time())
                sending, self._outbox = self._outbox, {}
                learned_sending, self._learned_outbox = self._learned_outbox, {}
                self._sending += 1
            sent = push_learned(self._shared, learned_sending) and push_counts(
                self._shared, sending, MINUTE_WINDOWS
            )
            with self._lock:
                self._sending -= 1
                self._sent += 1
                if not sent:  # counts add up in any order: give them back to the outbox
                    add_counts(self._outbox, flat_rows(sending))
                    self._learned_outbox = {**learned_sending, **self._learned_outbox}
                    return
                seen = self._sent
        found = snapshot(self._shared, self._shared_version)
        if found is None:
            return
        version, view, learned = found
        with self._lock:
            if self._sending or self._sent != seen:
                return  # a write went out meanwhile: read again next time
            # Not on the server yet: still this process's to add.
            add_counts(view, [*flat_rows(self._outbox), *self._pending_rows()])
            self._view = view
            self._shared_version = version
            if learned != self._learned:
                self._learned = learned
                self.generation += 1

    def clear(self) -> None:
        with self._lock:
            self._view.clear()
            self._pending.clear()
            self._outbox.clear()  # the shared server's counts are the other hosts' too
            self._learned_outbox.clear()
            self._local_only.clear()
            self._learned.clear()
            self.generation += 1
            if self._db is not None:
                with contextlib.suppress(sqlite3.DatabaseError):
                    self._db.execute("DELETE FROM quota_counts")
                    self._db.execute("DELETE FROM quota_learned")


def _quota_store(state_dir: Path) -> QuotaStore:
    store = QuotaStore(state_dir / "quotas.sqlite3", state_backend(state_dir).shared)
    flush_at_exit(store.flush)  # counts still waiting for their batch
    return store


quota_store = PerStateDir(_quota_store, default_state_dir)
"""The process's quota counters for a state directory (None: the user state dir)."""
