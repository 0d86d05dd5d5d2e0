"""Is this process's event loop too busy to read answers on time?

An event loop running hundreds of requests can spend seconds between two looks at its
sockets: an answer that arrived in time sits unread, and a read timeout would blame the
provider for this process's backlog (and fail a request that was answered). A ticker per
loop, armed only while requests wait for an answer, notices when its own timer fires
late. While the loop lags, and for CALM_AFTER seconds after, a deadline for connecting
or for the first answer that comes due is put off (by up to MAX_PUT_OFF seconds)
instead of firing.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

LATE_LIMIT = 0.1
CALM_AFTER = 2.0
MAX_PUT_OFF = 60.0
_TICK = 0.25
_QUEUED_LOOK = 1.0


def lagging() -> bool:
    """Whether the running event loop lags, or did within CALM_AFTER seconds (False
    outside an event loop: a thread's wait is not delayed by a loop)."""
    try:
        ticker = _tickers.get(asyncio.get_running_loop())
    except RuntimeError:
        return False
    return ticker is not None and ticker.lagging()


class _Ticker:
    """One event loop's lag."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.waiting = 0
        self._armed = False
        self._lagged_until = 0.0

    def note_lag(self, late: float) -> None:
        """A timer of this loop meant to fire now fired `late` seconds late."""
        if late > LATE_LIMIT:
            self._lagged_until = max(self._lagged_until, time.monotonic() + CALM_AFTER)

    def lagging(self) -> bool:
        return time.monotonic() < self._lagged_until

    def enter(self) -> None:
        self.waiting += 1
        if not self._armed:
            self._arm()

    def _arm(self) -> None:
        self._armed = True
        due = self._loop.time() + _TICK
        self._loop.call_at(due, self._tick, due)

    def _tick(self, due: float) -> None:
        self.note_lag(self._loop.time() - due)
        self._armed = False
        if self.waiting:
            self._arm()


_tickers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Ticker] = (
    weakref.WeakKeyDictionary()
)


async def first_answer(
    answer: Awaitable[T],
    due: Callable[[], float | None],
    expired: Callable[[], BaseException],
) -> T:
    """Await `answer` (a request's response headers), failing with `expired()` once the
    deadline `due()` (monotonic; None while the request waits for a connection of this
    process's own pool) has passed, unless this process is what delays the answer."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    ticker = _tickers.get(loop)
    if ticker is None:
        ticker = _tickers[loop] = _Ticker(loop)
    fired = False
    timers: list[asyncio.TimerHandle] = []

    def judge(planned: float) -> None:
        nonlocal fired
        now = loop.time()
        ticker.note_lag(now - planned)
        deadline = due()
        if deadline is None:  # still queued here: look again later
            later = now + _QUEUED_LOOK
        elif now < deadline:
            later = min(deadline, now + _QUEUED_LOOK * 60)
        elif ticker.lagging() and now < deadline + MAX_PUT_OFF:
            later = now + _TICK
        else:
            fired = True
            task.cancel()
            return
        timers[0] = loop.call_at(later, judge, later)  # noqa: F821 (deleted once answered)

    first = loop.time() + _TICK
    timers.append(loop.call_at(first, judge, first))
    ticker.enter()
    try:
        return await answer
    except asyncio.CancelledError:
        if not fired:
            raise
        uncancel = getattr(task, "uncancel", None)  # Python 3.11+: the cancel was ours
        if uncancel is not None:
            uncancel()
        raise expired() from None
    finally:
        timers[0].cancel()
        ticker.waiting -= 1
        # judge refers to itself (it schedules itself again): without it, the request's
        # objects it reaches are freed at once rather than left for the cyclic collector.
        del judge
