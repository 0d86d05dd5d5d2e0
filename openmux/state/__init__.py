"""State that outlives a process: health, quotas, usage and the response cache.

One small interface (`StateBackend`), two backends: SQLite files in the state dir
(the default; shared by one machine's processes) and a Redis-protocol server
(`[state] url = "redis://HOST:6379/0"`, Redis >= 6 or Valkey; shared across hosts).
Requests read state from memory; a backend that cannot be reached degrades to local
state with one warning, never an error. A forked child starts its stores afresh and
writes what they hold as it ends (`restart_in_children`, `flush_at_exit`).
"""

from openmux.state._backend import BackendName, SharedState, StateBackend
from openmux.state._files import (
    PerStateDir,
    StateDbOpen,
    connect_wal,
    insert_all,
    is_corruption,
    move_aside,
    open_state_db,
)
from openmux.state._fork import StateFile, flush_at_exit, restart_in_children
from openmux.state._resolve import configured_state, state_backend
from openmux.state._synced import SyncedFile

__all__ = [
    "BackendName",
    "PerStateDir",
    "SharedState",
    "StateBackend",
    "StateDbOpen",
    "StateFile",
    "SyncedFile",
    "configured_state",
    "connect_wal",
    "flush_at_exit",
    "insert_all",
    "is_corruption",
    "move_aside",
    "open_state_db",
    "restart_in_children",
    "state_backend",
]
