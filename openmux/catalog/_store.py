"""The refreshed listings, cached in SQLite (`catalog.sqlite3` in the state dir).

One row per provider: the offers of its last good listing and when it was
fetched, plus the last attempt and its error. A failed refresh touches only
the attempt columns, so the last good listing stays. A file that is not a
database (or whose rows do not parse) is moved aside and rebuilt: a broken
cache never stops selection, which falls back to the bundled snapshot.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from openmux.catalog._model import Offer
from openmux.state import StateFile, connect_wal, move_aside, restart_in_children

_log = logging.getLogger("openmux.catalog")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS listings (
    provider TEXT PRIMARY KEY,
    base_url TEXT NOT NULL,
    fetched REAL NOT NULL DEFAULT 0,
    offers TEXT NOT NULL DEFAULT '[]',
    last_attempt REAL NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT ''
)
"""


@dataclass(frozen=True)
class Listing:
    provider: str
    base_url: str
    fetched: float
    """When the last good listing was fetched (0: never)."""
    offers: tuple[Offer, ...]
    last_attempt: float = 0.0
    last_error: str = ""


class CatalogStore(StateFile):
    """Thread-safe access to one cache file; in memory only when the file is unusable."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._start_afresh()
        self.recovered = False
        """True when a corrupt file was moved aside and rebuilt."""
        if path is not None:
            # No file (a read-only state dir, say): the listings stay in memory.
            self.recovered = self.open_file(self._connect).moved_aside
        restart_in_children(self)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        probe = "SELECT provider, base_url, fetched, offers FROM listings LIMIT 1"
        return connect_wal(path, [_SCHEMA, probe], busy_seconds=2.0)

    def _move_aside(self, path: Path) -> None:
        self.recovered = True
        move_aside(path)

    def _recover(self) -> None:
        """A read or write failed after opening: start over with an empty file."""
        if self.path is None:
            return
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._move_aside(self.path)
        try:
            self._db = self._connect(self.path)
        except sqlite3.DatabaseError:
            self._db = None

    def load(self) -> dict[str, Listing]:
        with self._lock:
            if self._db is None:
                return {}
            try:
                rows = self._db.execute(
                    "SELECT provider, base_url, fetched, offers, last_attempt, last_error"
                    " FROM listings"
                ).fetchall()
            except sqlite3.DatabaseError:
                self._recover()
                return {}
        listings: dict[str, Listing] = {}
        for provider, base_url, fetched, raw, last_attempt, last_error in rows:
            try:
                source = f"refreshed {time.strftime('%Y-%m-%d', time.localtime(fetched))}"
                offers = tuple(Offer.from_dict(provider, d, source) for d in json.loads(raw))
            except (ValueError, TypeError, KeyError):
                offers, fetched = (), 0.0  # an unreadable row: as if never fetched
            listings[provider] = Listing(
                provider, base_url, float(fetched), offers, float(last_attempt), str(last_error)
            )
        return listings

    def save(self, listing: Listing) -> None:
        payload = json.dumps([o.as_dict() for o in listing.offers], separators=(",", ":"))
        self._execute(
            "INSERT OR REPLACE INTO listings VALUES (?,?,?,?,?,?)",
            (
                listing.provider,
                listing.base_url,
                listing.fetched,
                payload,
                listing.last_attempt,
                listing.last_error,
            ),
        )

    def mark_failed(self, provider: str, base_url: str, error: str, when: float) -> None:
        self._execute(
            "INSERT INTO listings (provider, base_url, last_attempt, last_error)"
            " VALUES (?,?,?,?) ON CONFLICT(provider) DO UPDATE SET"
            " last_attempt = excluded.last_attempt, last_error = excluded.last_error",
            (provider, base_url, when, error),
        )

    def _execute(self, sql: str, params: tuple[object, ...]) -> None:
        with self._lock:
            if self._db is None:
                return
            try:
                self._db.execute(sql, params)
            except sqlite3.DatabaseError:
                self._recover()
                if self._db is not None:
                    with contextlib.suppress(sqlite3.DatabaseError):
                        self._db.execute(sql, params)
