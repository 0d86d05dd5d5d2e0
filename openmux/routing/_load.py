"""This process's own load, as the router sees it: is a slow answer the provider's fault
or ours, and may a hedge add a request?

- Saturation: a hedge timer that fires late (by more than LATE_WAKE_LIMIT) means this
  process (its event loop, or its threads behind the GIL) is too busy to read answers on
  time. For SATURATED_FOR seconds after that, a timeout is not held against the provider
  (nothing is benched) and no hedge is started: hedging would only add to the overload.
  An event loop that lags while it waits for answers counts too (see
  `openmux.providers.loop_lagging`).
- Hedge budget: a token bucket refilled by HEDGE_SHARE of every call started plus
  HEDGES_PER_SECOND, so hedges stay a small extra load however many requests are slow.
"""

from __future__ import annotations

import threading
import time

from openmux.providers import loop_lagging

LATE_WAKE_LIMIT = 0.1
SATURATED_FOR = 2.0
HEDGE_SHARE = 0.1
HEDGES_PER_SECOND = 1.0
HEDGE_BURST = 5.0


class LoadWatch:
    """Thread-safe; one per process (`load`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._saturated_until = 0.0
        self._tokens = HEDGE_BURST
        self._refilled = time.monotonic()

    def note_wake(self, late_by: float) -> None:
        """A timer meant to fire now fired `late_by` seconds late."""
        if late_by > LATE_WAKE_LIMIT:
            with self._lock:
                self._saturated_until = time.monotonic() + SATURATED_FOR

    def saturated(self) -> bool:
        return time.monotonic() < self._saturated_until or loop_lagging()

    def note_call(self) -> None:
        """A candidate call started (not a hedge): it earns a share of a hedge."""
        with self._lock:
            self._tokens = min(HEDGE_BURST, self._tokens + HEDGE_SHARE)

    def take_hedge(self) -> bool:
        """May a hedge start now? Spends one from the budget when it may."""
        if self.saturated():
            return False
        with self._lock:
            now = time.monotonic()
            refill = (now - self._refilled) * HEDGES_PER_SECOND
            self._tokens = min(HEDGE_BURST, self._tokens + refill)
            self._refilled = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True


load = LoadWatch()
"""This process's load watch, shared by every router in it."""
