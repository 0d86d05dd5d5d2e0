"""What every state backend offers: a name, where it is, and keyed blobs that expire.

Health, quotas and usage keep their own tables in the state dir (SQLite, shared by the
processes of one machine); a backend that reaches other hosts also offers `shared`, the
primitives they replicate through (see `SharedState`). Nothing here raises into a
request: a backend that cannot be used answers None or nothing, and says so once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Literal, Protocol

BackendName = Literal["sqlite", "redis"]


class StateBackend(Protocol):
    @property
    def name(self) -> BackendName: ...

    @property
    def shared(self) -> SharedState | None:
        """The cross-host primitives (Redis); None where the state dir is the whole story."""
        ...

    def get_blob(self, space: str, key: str) -> bytes | None:
        """The live value stored under (space, key), or None (unknown, expired, unreachable)."""
        ...

    def put_blob(self, space: str, key: str, value: bytes, ttl_s: float) -> None:
        """Store `value` for `ttl_s` seconds (dropped silently when the backend is down)."""
        ...

    def blobs(self, space: str) -> Iterator[tuple[str, bytes]]:
        """Every live (key, value) of the space; nothing when the backend is down."""
        ...

    def describe(self) -> str:
        """Where the state lives, credentials masked (for `openmux doctor`)."""
        ...

    def check(self) -> str:
        """Empty when the backend answers now; else what is wrong, in one line."""
        ...


Names = Sequence[str]


class SharedState(Protocol):
    """Primitives for state shared across hosts, grouped in spaces ("health", "quota"...).

    A space holds records (small hashes, by name) and a log. Writes run a Lua script
    atomically on the server and bump the space's version, so a reader fetches records
    only when someone wrote. Each call returns None (or False) when the server cannot be
    reached, at once and without a round-trip once it is known to be down: the caller
    keeps its change and offers it again from its sync hook."""

    @property
    def up(self) -> bool:
        """Whether the server answered last time (costs no round-trip)."""
        ...

    def merge(
        self, space: str, script: str, items: Sequence[tuple[Names, Sequence[object]]]
    ) -> bool:
        """Run `script` once per (record names -> KEYS, args -> ARGV), all in one transaction."""
        ...

    def call(self, space: str, script: str, names: Names, args: Sequence[object]) -> object | None:
        """Run `script` once, in a transaction with the version bump, and return its answer."""
        ...

    def records(self, space: str) -> dict[str, dict[str, str]] | None:
        """Every live record of the space: name -> fields."""
        ...

    def version(self, space: str) -> int | None:
        """Grows with every write to the space."""
        ...

    def append(self, space: str, items: Sequence[bytes], keep: int) -> bool:
        """Add items to the space's log, keeping the newest `keep`."""
        ...

    def items(self, space: str) -> list[bytes] | None:
        """The space's log, oldest first."""
        ...

    def on_sync(self, hook: Callable[[], None]) -> None:
        """Call `hook()` from a background thread about every SYNC_SECONDS and at once after
        `wake()`, so stores write their batches and read others' changes off the request
        path. The thread also reconnects after an outage, before calling the hooks."""
        ...

    def wake(self) -> None:
        """Run the sync hooks now (a bench was recorded: other hosts must see it soon)."""
        ...
