"""The quota counters' shapes: windows, the SQLite table, and what blocks a request."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from openmux.state import connect_wal

MINUTE = 60

REQUESTS_PER_MINUTE, REQUESTS_PER_DAY, TOKENS_PER_MINUTE, TOKENS_PER_DAY = "m", "d", "M", "D"
CHECKS = (
    ("rpm", REQUESTS_PER_MINUTE),
    ("rpd", REQUESTS_PER_DAY),
    ("tpm", TOKENS_PER_MINUTE),
    ("tpd", TOKENS_PER_DAY),
)
MINUTE_WINDOWS = (REQUESTS_PER_MINUTE, TOKENS_PER_MINUTE)

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS quota_counts (
        scope TEXT NOT NULL,
        window TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        n INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (scope, window, bucket)
    )""",
    """CREATE TABLE IF NOT EXISTS quota_learned (
        scope TEXT PRIMARY KEY,
        changes TEXT NOT NULL,
        updated REAL NOT NULL
    )""",
)
ADD_COUNTS = """
INSERT INTO quota_counts (scope, window, bucket, n) VALUES (?, ?, ?, ?)
ON CONFLICT (scope, window, bucket) DO UPDATE SET n = n + excluded.n
"""

Buckets = dict[int, int]
Key = tuple[str, str]  # (scope, window)


@dataclass(frozen=True)
class Blocked:
    """A request would go over `limit` (= `value`); one fits again at `until` (epoch s)."""

    limit: str
    value: int
    until: float

    def describe(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        wait = self.until - now
        if wait < 120:
            when = f"in {max(0.0, wait):.0f} s"
        else:
            when = time.strftime("at %Y-%m-%d %H:%M UTC", time.gmtime(self.until))
        return f"over its {self.limit} limit ({self.value}); frees up {when}"


def connect(path: Path) -> sqlite3.Connection:
    return connect_wal(
        path,
        [
            *SCHEMA,
            "SELECT scope, window, bucket, n FROM quota_counts LIMIT 1",
            "SELECT scope, changes, updated FROM quota_learned LIMIT 1",
        ],
    )


def add_counts(into: dict[Key, Buckets], counts: Iterable[tuple[str, str, int, int]]) -> None:
    for scope, window, bucket, n in counts:
        buckets = into.setdefault((scope, window), {})
        if bucket not in buckets and window in MINUTE_WINDOWS and len(buckets) > MINUTE:
            # A new second: forget the seconds that left the window, so counting stays cheap.
            for old in [b for b in buckets if b <= bucket - MINUTE]:
                del buckets[old]
        buckets[bucket] = buckets.get(bucket, 0) + n


def flat_rows(counts: dict[Key, Buckets]) -> list[tuple[str, str, int, int]]:
    """(scope, window, bucket, n) rows of counts kept by (scope, window)."""
    return [
        (scope, window, bucket, n)
        for (scope, window), buckets in counts.items()
        for bucket, n in buckets.items()
    ]


def minute_frees_at(sources: Iterable[Buckets | None], limit: int, need: int, now: float) -> float:
    """When enough of a rolling minute's counts (from `sources`) age out for `need` more."""
    merged: Buckets = {}
    oldest = int(now) - MINUTE
    for source in sources:
        for bucket, n in (source or {}).items():
            if bucket > oldest:
                merged[bucket] = merged.get(bucket, 0) + n
    excess = sum(merged.values()) + need - limit
    for bucket in sorted(merged):
        excess -= merged[bucket]
        if excess <= 0:
            return float(bucket + MINUTE + 1)
    return now + MINUTE
