"""A forked process starts its stores afresh.

A child made by `os.fork` (multiprocessing's default start method on Linux before
Python 3.14, gunicorn's `--preload`, Celery's prefork pool) inherits its parent's
stores as they were at that instant:

- their SQLite connections, which must not be used across a fork (two processes
  writing through one connection's file handles and caches can damage the file);
- locks that another thread held then (the usage log's writer in mid-batch, say),
  held for ever in the child, where no thread is left to release them;
- the rows and counts the parent has not written yet, which the child would write a
  second time.

So each store registers here (`restart_in_children`); in the child, before any other
code of it runs, every live store takes new locks and drops what is its parent's to
write; its file is opened again on first use (`StateFile`). The newest
restarts first: a store restarts before the link to a state server it syncs through
(made before it), whose thread then finds the store ready.

Before the fork, the forking thread takes every store's file locks (`_hold_files`),
waiting up to two seconds in all for other threads to finish what they are writing,
so that the child finds no file in use, and no thread of the parent inside SQLite,
whose own mutexes the child would find held for ever.

An inherited connection no thread was using is closed. SQLite keeps what a process
knows of a file's locks in one record per file, shared by its connections, and the
child's copy describes the parent's locks: closing the file's last connection drops it,
so the new connection takes real locks of its own. (Closing does not checkpoint or
delete the write-ahead log: the parent's connection still holds the file.) A connection
a thread was still using at the fork (a write that outlasted the wait) is never touched
again: its mutex may be held for ever, closing it would roll back, in the shared
write-ahead index, a write the parent is still making, and a new connection would share
the copied record, taking no real locks (or finding the parent's write lock held for
ever). That store keeps its state in memory in the child, and says so.

What a store still holds at exit is written then (`flush_at_exit`): by atexit, and in
a child multiprocessing forked, whose end (`os._exit`) skips atexit, by the finalizers
multiprocessing runs as the child's work ends.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import sqlite3
import sys
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from openmux._logging import get_logger
from openmux.state._files import StateDbOpen, open_state_db

_log = get_logger("openmux.state")


class RestartsInChild(Protocol):
    def restart_in_child(self) -> None:
        """Runs in a forked child, alone (no other thread exists yet)."""


_stores: weakref.WeakValueDictionary[int, RestartsInChild] = weakref.WeakValueDictionary()
_registered = itertools.count()
_abandoned: list[sqlite3.Connection] = []
_exit_flushes: list[Callable[[], None]] = []


def restart_in_children(store: RestartsInChild) -> None:
    """Have `store.restart_in_child()` run in every child this process forks from now on,
    while the store lives."""
    _stores[next(_registered)] = store


def _release_inherited(db: sqlite3.Connection, *, in_use: bool) -> bool:
    """Put an inherited connection out of use: True when it was closed (its file may be
    opened again), False when a thread was using it at the fork (`in_use`, read from the
    locks that guard it): kept, untouched, for the child's life."""
    if in_use:
        _abandoned.append(db)
        return False
    with contextlib.suppress(sqlite3.Error):
        db.close()
    return True


class StateFile:
    """A store's SQLite connection, `_db`: opened on first use when asked to
    (`open_on_first_use`); in a forked child put out of use and opened again on first
    use (`restart_in_child`), so that a child that never uses a store pays nothing for
    it (closing a connection costs about 0.2 ms, and a long-lived process may hold many).
    None: the store keeps its state in memory.

    A store uses its file under `_lock`, and sets what is its process's own in
    `_start_afresh` (at start, and again in a forked child)."""

    path: Path | None
    problem: str = ""
    """What was wrong with the file when it was opened ("" when nothing)."""
    _lock: threading.Lock
    _connection: sqlite3.Connection | None = None
    _opens_with: Callable[[Path], sqlite3.Connection] | None = None
    """How the file is opened, once it was asked to be."""
    _waiting = False
    """The file is to be opened on its first use."""
    _inherited: tuple[sqlite3.Connection, bool] | None = None
    """In a forked child: the parent's connection, and whether a thread was using it."""

    @property
    def _db(self) -> sqlite3.Connection | None:
        if self._waiting:
            self._open_now()
        return self._connection

    @_db.setter
    def _db(self, db: sqlite3.Connection | None) -> None:
        self._connection = db

    def open_file(self, connect: Callable[[Path], sqlite3.Connection]) -> StateDbOpen:
        """Open the file (at `path`) now; kept in memory, `problem` saying why, when it
        cannot be used."""
        assert self.path is not None
        self._opens_with = connect
        opened = open_state_db(self.path, connect)
        self._connection, self.problem = opened.db, opened.problem
        self._waiting = False
        return opened

    def open_on_first_use(self, connect: Callable[[Path], sqlite3.Connection]) -> None:
        self._opens_with = connect
        self._opening = threading.Lock()
        self._waiting = True

    def _start_afresh(self) -> None:
        """What is this process's own."""
        self._lock = threading.Lock()

    def _file_locks(self) -> tuple[threading.Lock, ...]:
        """The locks a thread holds while it uses the file, in the order threads take them."""
        return (self._lock,)

    def restart_in_child(self) -> None:
        """The inherited connection is put out of use, and the file opened again on
        first use."""
        # A lock held at the fork stays held: a thread was using the file.
        in_use = any(lock.locked() for lock in self._file_locks())
        self._start_afresh()
        self._opening = threading.Lock()  # a thread may have been opening it
        if self._connection is None or self.path is None:
            return  # not opened yet, or in memory: as it was
        self._inherited = (self._connection, in_use)
        self._connection = None
        self._waiting = True

    def _open_now(self) -> None:
        with self._opening:
            if not self._waiting:
                return  # another thread opened it meanwhile
            assert self._opens_with is not None  # set wherever `_waiting` is
            if self._inherited is not None:
                inherited, in_use = self._inherited
                self._inherited = None
                if not _release_inherited(inherited, in_use=in_use):
                    self._waiting = False
                    self.problem = (
                        f"{self.path} was in use when this process was forked; kept in memory here"
                    )
                    _log.warning("%s", self.problem)
                    return
            self.open_file(self._opens_with)


_FORK_WAIT_S = 2.0
"""How long a fork waits, in all, for other threads to finish with the stores' files."""
_forking = threading.local()
"""The locks the forking thread took (`held`): its own, should two threads fork at once."""


def _hold_files() -> None:
    """Before a fork: take every store's file locks, so that no thread is inside a write
    when it comes (one that outlasts the wait leaves its store in memory in the child)."""
    deadline = time.monotonic() + _FORK_WAIT_S
    held: list[threading.Lock] = []
    _forking.held = held
    for store in list(_stores.values()):
        if not isinstance(store, StateFile):
            continue
        for lock in store._file_locks():
            if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                break
            held.append(lock)


def _release_files() -> None:
    held: list[threading.Lock] = getattr(_forking, "held", [])
    while held:
        held.pop().release()


def flush_at_exit(flush: Callable[[], None]) -> None:
    """Run `flush` as this process ends, and as any child it forks ends."""
    atexit.register(flush)
    _exit_flushes.append(flush)


class _Anchor:
    """What multiprocessing's after-fork registry holds (weakly) for the flushes."""


_ANCHOR = _Anchor()


def _finalize_flushes(_: _Anchor) -> None:
    from multiprocessing.util import Finalize

    for flush in _exit_flushes:
        Finalize(None, flush, exitpriority=1)


def _restart_stores() -> None:
    _release_files()  # what this thread took before the fork, not what others held
    for store in reversed(list(_stores.values())):
        try:
            store.restart_in_child()
        except Exception:  # one store's failure must not leave the others inherited
            _log.exception("a state store could not restart after fork")
    util = sys.modules.get("multiprocessing.util")
    if util is not None and _exit_flushes:
        # Run by multiprocessing in the child once it has cleared the parent's
        # finalizers, which a finalizer registered now would be cleared with.
        util.register_after_fork(_ANCHOR, _finalize_flushes)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_hold_files, after_in_parent=_release_files, after_in_child=_restart_stores
    )
