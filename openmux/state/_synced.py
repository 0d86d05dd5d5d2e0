"""What a store that batches its changes and syncs them with a state server keeps
for itself (the health and quota stores): each process its own, so a forked child
starts it afresh."""

from __future__ import annotations

import threading
import time

from openmux.state._fork import StateFile


class SyncedFile(StateFile):
    """A store whose in-memory view is read again when its file's `data_version` or the
    state server's version moves, and whose changes are written in batches."""

    def _start_afresh(self) -> None:
        super()._start_afresh()
        self._push_lock = threading.Lock()
        """Held over a send to the state server, so that a flush (at exit, say) waits for it."""
        self._sending = self._sent = 0
        """Sends in flight, and done: a snapshot read while one ran is read again."""
        self._shared_version: int | None = None
        self._version: int | None = None
        self._checked = float("-inf")
        """When the file's version was last read (monotonic)."""
        self._flushed = time.monotonic()
