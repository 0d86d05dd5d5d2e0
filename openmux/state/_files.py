"""Opening a state database (health, quotas, usage, catalog): a broken file never stops an answer.

A file that is not a database, or whose schema cannot be read, is moved aside
(``NAME.corrupt``, with its WAL files removed) and rebuilt empty; a state dir
that cannot be created or written leaves the store in memory, and so does a file
a newer OpenMux made (a column this version cannot fill), left untouched. Either
way the store says what happened (`StateDbOpen.problem`) so `openmux doctor` can tell.

A file that is only busy is waited for: processes that start together all create
the same files at once, and one left in memory would count its quotas alone.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any, Generic, TypeVar

from openmux._logging import get_logger

_log = get_logger("openmux.state")


@dataclass(frozen=True)
class StateDbOpen:
    db: sqlite3.Connection | None
    problem: str = ""
    """Empty when the file opened cleanly; else what was wrong and what was done."""
    moved_aside: bool = False


BUSY_SECONDS = 5.0
"""How long opening a state file, or a write to a ledger (quotas, usage), waits for
other processes' writes."""


def connect_wal(
    path: Path, statements: Iterable[str] = (), *, busy_seconds: float = BUSY_SECONDS
) -> sqlite3.Connection:
    """A connection in WAL mode with ``synchronous=NORMAL`` (readers never wait for the
    writer, and a power cut may lose the last commits but never the file), once
    `statements` ran: a store's schema, and reads that check it. Closed if one fails."""
    statements = list(statements)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=busy_seconds)
    try:
        _refuse_unfillable_columns(db, statements)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        for statement in statements:
            db.execute(statement).fetchall()
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db


class _NewerSchema(sqlite3.DatabaseError):
    """The file's tables have a column this version cannot fill: every write would fail.
    A later OpenMux (or another program) made it, so it is left as it is."""


def _refuse_unfillable_columns(db: sqlite3.Connection, statements: Sequence[str]) -> None:
    """Raise _NewerSchema when a table the statements create has, in the file, a column
    they do not make that needs a value (NOT NULL, no default). Checked before anything
    is written to the file."""
    with contextlib.closing(sqlite3.connect(":memory:")) as ours:
        for statement in statements:
            ours.execute(statement).fetchall()
        tables = [name for (name,) in ours.execute(_TABLES)]
        for table in tables:
            known = {column[1] for column in ours.execute(f"PRAGMA table_info({table})")}
            for _, column, _, not_null, default, primary in db.execute(
                f"PRAGMA table_info({table})"
            ):
                if column not in known and not_null and default is None and not primary:
                    raise _NewerSchema(
                        f"has a column this OpenMux cannot fill ({table}.{column}): "
                        "a newer version made it"
                    )


_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"


_MAX_VARIABLES = 999
"""Parameters one statement may bind in SQLite before 3.32 (later versions allow 32,766)."""


def insert_all(
    db: sqlite3.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> bool:
    """Every row into `table`, in one transaction: all rows or none; False for none.

    In autocommit mode each row would be a commit of its own (about four times the CPU),
    and a batch that failed halfway would leave its first rows, to be written again.
    Many rows go in each statement: `executemany` runs one step per row, letting the GIL
    go and taking it back each time, and from a writer thread that starves an event loop
    in the same process, whose wake-up loses the race for the GIL row after row (a
    500-row batch held a served request up by 3-5 ms).
    """
    group = "(" + ",".join("?" * len(columns)) + ")"
    per_statement = max(1, _MAX_VARIABLES // len(columns))
    into = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    pending = iter(rows)
    try:
        db.execute("BEGIN")
        while chunk := list(islice(pending, per_statement)):
            values = ",".join([group] * len(chunk))
            db.execute(into + values, list(chain.from_iterable(chunk)))
        db.execute("COMMIT")
    except sqlite3.DatabaseError:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.DatabaseError):
                db.execute("ROLLBACK")
        return False
    return True


def move_aside(path: Path) -> Path:
    """Keep a broken database as NAME.corrupt for inspection (NAME.corrupt.2 and on when
    an earlier one is still there: none is overwritten); drop its WAL files."""
    target = path.with_name(path.name + ".corrupt")
    copies = 1
    while target.exists():
        copies += 1
        target = path.with_name(f"{path.name}.corrupt.{copies}")
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(OSError):
            path.with_name(path.name + suffix).unlink()
    with contextlib.suppress(OSError):
        path.replace(target)
    return target


def open_state_db(path: Path, connect: Callable[[Path], sqlite3.Connection]) -> StateDbOpen:
    """`connect(path)` (which must check the schema), rebuilding a corrupt file once."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problem = f"the state dir {path.parent} cannot be created ({exc.strerror}); kept in memory"
        _log.warning("%s; set OPENMUX_STATE_DIR to a writable folder", problem)
        return StateDbOpen(None, problem)
    try:
        return StateDbOpen(_connect_when_free(path, connect))
    except _NewerSchema as exc:  # its data is another version's to keep: never moved aside
        problem = f"{path} {exc}; kept in memory; upgrade OpenMux, or move the file aside"
        _log.warning("%s", problem)
        return StateDbOpen(None, problem)
    except sqlite3.DatabaseError as exc:
        if not is_corruption(exc):  # locked, read-only, a disk error: the file may be fine
            problem = f"{path} cannot be used now ({exc}); kept in memory"
            _log.warning("%s; check that it is a file this user can write", problem)
            return StateDbOpen(None, problem)
        moved = move_aside(path)
        problem = f"{path.name} was corrupt ({exc}); moved aside to {moved.name} and rebuilt"
        _log.warning("%s", problem)
    try:
        return StateDbOpen(connect(path), problem, moved_aside=True)
    except sqlite3.DatabaseError as exc:
        return StateDbOpen(None, f"{problem}; rebuilding failed ({exc}), kept in memory", True)


def _connect_when_free(
    path: Path, connect: Callable[[Path], sqlite3.Connection]
) -> sqlite3.Connection:
    """`connect(path)`, tried again while the file is busy, for up to BUSY_SECONDS.

    Switching a new file to WAL races with every other process creating it, and SQLite
    answers the losers "database is locked" at once instead of waiting (waiting there
    could deadlock), so the busy timeout alone does not cover opening.
    """
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            return connect(path)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() > deadline:
                raise
        time.sleep(random.uniform(0.002, 0.02))  # spread out, so the racers do not meet again


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def is_corruption(exc: sqlite3.DatabaseError) -> bool:
    """The file's content is wrong (as opposed to the file being busy or unwritable)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return True
    text = str(exc).lower()
    return any(sign in text for sign in ("not a database", "malformed", "no such column"))


S = TypeVar("S")


class PerStateDir(Generic[S]):
    """One store per state directory in this process; None stands for `default_dir()`."""

    def __init__(self, build: Callable[[Path], S], default_dir: Callable[[], Path]) -> None:
        self._build = build
        self._default_dir = default_dir
        self._stores: dict[Path, S] = {}
        self._lock = threading.Lock()

    def __call__(self, state_dir: Path | None) -> S:
        if state_dir is None:
            state_dir = self._default_dir()
        with self._lock:
            store = self._stores.get(state_dir)
            if store is None:
                store = self._stores[state_dir] = self._build(state_dir)
            return store
