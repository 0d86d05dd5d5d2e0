"""Hedging: when a candidate is slow to answer, start the next one too.

The hedge starts after `hedge_after_ms` (by default the candidate's observed
p95 answer time, never below 1.5 s; 2 s before anything is observed). The
first good answer wins; the other call is cancelled (async) or abandoned
(sync: its thread finishes on its own and its result is dropped), and both
attempts are recorded. A loser sent before the winner that still has no answer
counts as a timeout for its health (one opens the breaker), so a provider that
hangs costs the hedge delay once, not on every request. Both clocks start when the
candidate's request leaves this process (see `watching_sends`): one still waiting for a
connection of this process's own pool is not slow, and is never blamed. Requests with tools
bound are not hedged unless `hedge_tools` is on, since a tool call may have side
effects.

`race` and `arace` take one call per candidate (already bound to the request and,
in a traced run, to its callbacks) and a last call that gives up or starts another
round; the failover stage and the traced graph use them alike. A stream races the
same way up to its first chunk, since nothing has reached the caller before it.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from openmux._logging import get_logger
from openmux.providers import ProviderFailure, Sends, watching_sends
from openmux.routing._callee import warm
from openmux.routing._load import LATE_WAKE_LIMIT, load

if TYPE_CHECKING:
    from openmux.routing._context import Router
    from openmux.routing._request import Candidate, RouteRequest

T = TypeVar("T")

MIN_ADAPTIVE_DELAY = 1.5
_log = get_logger("openmux.routing")
UNOBSERVED_DELAY = 2.0


def _now(call: Callable[[], T]) -> Future[T]:
    """Run `call` on this thread; its outcome as a finished future."""
    future: Future[T] = Future()
    try:
        future.set_result(call())
    except BaseException as exc:  # raised where the race reads outcomes, as from a thread
        future.set_exception(exc)
    return future


def _spawn(call: Callable[[], T]) -> Future[T]:
    """Run `call` on a thread of its own: a hedged call never queues behind other
    requests' calls (an abandoned call may hold its thread until its timeout)."""
    future: Future[T] = Future()
    context = contextvars.copy_context()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(context.run(call))
        except BaseException as exc:  # handed to whoever waits on the future
            future.set_exception(exc)

    threading.Thread(target=run, name="openmux-call", daemon=True).start()
    return future


def hedges(router: Router, request: RouteRequest, candidates: Sequence[Candidate]) -> bool:
    settings = router.settings
    return (
        settings.hedging
        and len(candidates) > 1
        and (settings.hedge_tools or not request.needs_tools)
        # media is slow by nature and spends a daily allowance: never make it twice
        and request.output == "text"
        # no hedge starts while this process is saturated: spare it the race's upkeep too
        and not load.saturated()
    )


def hedge_delay(router: Router, candidate: Candidate) -> float:
    settings = router.settings
    if settings.hedge_after_ms is not None:
        return settings.hedge_after_ms / 1000
    p95 = router.health.p95_first_token_ms(*candidate.key)
    return UNOBSERVED_DELAY if p95 is None else max(MIN_ADAPTIVE_DELAY, p95 / 1000)


def _log_hedge(router: Router, slow: Candidate, hedge: Candidate) -> None:
    _log.info(
        "hedge: %s:%s is slow (wait %.1f s); racing %s:%s",
        *slow.key,
        hedge_delay(router, slow),
        *hedge.key,
    )


class _Started:
    """One candidate's call in a race: when it started, and its requests' way out."""

    __slots__ = ("at", "sends")

    def __init__(self, sends: Sends) -> None:
        self.at = time.monotonic()
        self.sends = sends

    def clock(self) -> float | None:
        return self.sends.clock_start(self.at)


def _next_hedge(
    router: Router, candidates: Sequence[Candidate], started: int, slow: _Started
) -> float | None:
    """Seconds until the next candidate may start early (asked again each time the budget,
    this process's load or a request still waiting for a connection says not yet); None:
    wait for an outcome."""
    if started >= len(candidates):
        return None
    delay = hedge_delay(router, candidates[started - 1])
    clock = slow.clock()
    return delay if clock is None else max(0.0, clock + delay - time.monotonic())


def _may_hedge(waited: float, timeout: float | None, slow: _Started, delay: float) -> bool:
    """The hedge timer fired: note how late (this process's load); hedge when the slow
    call has really been out for the hedge delay and the budget allows."""
    now = time.monotonic()
    load.note_wake(now - waited - (timeout or 0.0))
    clock = slow.clock()
    if clock is None or now - clock < delay - LATE_WAKE_LIMIT:
        return False
    return load.take_hedge()


def race(
    router: Router,
    request: RouteRequest,
    candidates: Sequence[Candidate],
    calls: Sequence[Callable[[], T]],
    last: Callable[[], T],
) -> T:
    """Call candidates in order, starting the next early when one is slow; `last` when
    every one failed."""
    running: dict[Future[T], Candidate] = {}
    sent: dict[tuple[str, str], _Started] = {}
    index = 0

    def start(hedged: bool) -> None:
        nonlocal index
        candidate = candidates[index]
        if hedged:
            request.hedged.add(candidate.key)
            _log_hedge(router, candidates[index - 1], candidate)
        else:
            load.note_call()
        ruled_out = router.health.bench_of(*candidate.key) is not None
        if not ruled_out:
            warm(router, candidate, request, aio=False)  # before its clock starts
        with watching_sends() as sends:
            sent[candidate.key] = _Started(sends)
            # Ruled out before sending: not worth a thread (its attempt is recorded).
            running[(_now if ruled_out else _spawn)(calls[index])] = candidate
        index += 1

    start(hedged=False)
    while True:
        slow = sent[candidates[index - 1].key]
        timeout = _next_hedge(router, candidates, index, slow)
        waited = time.monotonic()
        done, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
        if not done:
            if _may_hedge(waited, timeout, slow, hedge_delay(router, candidates[index - 1])):
                start(hedged=True)
            continue
        for future in done:
            winner = running.pop(future)
            try:
                result = future.result()
            except ProviderFailure:
                continue
            except BaseException:
                _abandon(request, running)
                raise
            _abandon(request, running)
            _slower_than(router, running, sent, sent[winner.key].clock())
            return result
        if running:
            continue
        if index < len(calls):
            start(hedged=False)
            continue
        return last()


async def arace(
    router: Router,
    request: RouteRequest,
    candidates: Sequence[Candidate],
    calls: Sequence[Callable[[], Awaitable[T]]],
    last: Callable[[], Awaitable[T]],
) -> T:
    """`race` on the event loop. The first candidate is called in the caller's own task
    (see `_Lead`); later ones, hedged or not, each in a task of its own."""
    running: dict[asyncio.Future[T], Candidate] = {}
    sent: dict[tuple[str, str], _Started] = {}
    index = 0

    def begin(hedged: bool) -> Candidate:
        """The next candidate, noted as started and its call's client built (before its
        clock starts)."""
        nonlocal index
        candidate = candidates[index]
        if hedged:
            request.hedged.add(candidate.key)
            _log_hedge(router, candidates[index - 1], candidate)
        else:
            load.note_call()
        warm(router, candidate, request, aio=True)
        index += 1
        return candidate

    def start(hedged: bool) -> asyncio.Task[T]:
        candidate = begin(hedged)
        with watching_sends() as sends:  # the task copies this context as it is created
            sent[candidate.key] = _Started(sends)
            task = asyncio.ensure_future(calls[index - 1]())
        running[task] = candidate
        return task

    def next_timeout() -> tuple[_Started, float | None]:
        slow = sent[candidates[index - 1].key]
        return slow, _next_hedge(router, candidates, index, slow)

    def hedge_now(waited: float, timeout: float | None, slow: _Started) -> asyncio.Task[T] | None:
        if _may_hedge(waited, timeout, slow, hedge_delay(router, candidates[index - 1])):
            return start(hedged=True)
        return None

    decided = True
    try:
        lead = _Lead(begin(hedged=False), running, sent, next_timeout, hedge_now)
        answered, result = await lead.run(calls[0])
        if answered:
            _slower_than(router, running, sent, sent[lead.candidate.key].clock())
            return result
        while True:
            if not running:
                if index < len(calls):
                    start(hedged=False)
                    continue
                # Every candidate failed: the race decided nothing, and the request's
                # next round (after a bench ends, say) records its answer (as in `race`).
                decided = False
                return await last()
            slow, timeout = next_timeout()
            waited = time.monotonic()
            done, _ = await asyncio.wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
            if not done:
                hedge_now(waited, timeout, slow)
                continue
            for task in done:
                winner = running.pop(task)
                try:
                    result = task.result()
                except ProviderFailure:
                    continue
                _slower_than(router, running, sent, sent[winner.key].clock())
                return result
    finally:
        if decided:
            _abandon(request, running)
        for task in running:
            task.cancel()


class _Lead(Generic[T]):
    """A race's first candidate, called in the caller's own task: on the usual fast answer
    the race then costs a timer, not a task and a wait on it (about 30 µs a request on a
    warm loop). The hedge timer runs outside the lead's watch (`watching_sends` nests:
    the lead would count a hedge's requests as its own). A hedge that ends first, with an
    answer or with an error no other candidate would escape, cancels the caller's task,
    which takes that cancel back (Python 3.11+ counts cancels: one from elsewhere still
    stands). While the lead's call is out, a pending future stands for it among the
    race's calls, so a lead a hedge beat is blamed and recorded like a losing task."""

    def __init__(
        self,
        candidate: Candidate,
        running: dict[asyncio.Future[T], Candidate],
        sent: dict[tuple[str, str], _Started],
        next_timeout: Callable[[], tuple[_Started, float | None]],
        hedge_now: Callable[[float, float | None, _Started], asyncio.Task[T] | None],
    ) -> None:
        self.loop = asyncio.get_running_loop()
        owner = asyncio.current_task()
        assert owner is not None
        self.owner = owner
        self.candidate = candidate
        self.running = running
        self.sent = sent
        self.next_timeout = next_timeout
        self.hedge_now = hedge_now
        self.out: asyncio.Future[T] = self.loop.create_future()
        self.over = False
        self.ended_by: asyncio.Future[T] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.outside = contextvars.copy_context()

    async def run(self, call: Callable[[], Awaitable[T]]) -> tuple[bool, Any]:
        """(True, the lead's answer), or (False, None): the race goes on with the calls
        left in `running` (the hedge that ended it, or what else still runs)."""
        self.running[self.out] = self.candidate
        try:
            with watching_sends() as sends:
                self.sent[self.candidate.key] = _Started(sends)
                self._arm()
                result = await call()
        except asyncio.CancelledError:
            if not self._stop():
                raise
            return False, None  # still out, without an answer: a loser, as a task would be
        except BaseException as exc:
            del self.running[self.out]  # the call recorded its own outcome
            if self._stop() or isinstance(exc, ProviderFailure):
                return False, None
            raise
        del self.running[self.out]
        self._stop()
        return True, result

    def _stop(self) -> bool:
        """No hedge starts from here on. True when a hedge ended the race and nobody else
        cancelled the caller's task."""
        self.over = True
        if self.timer is not None:
            self.timer.cancel()
        if self.ended_by is None:
            return False
        uncancel = getattr(self.owner, "uncancel", None)
        return uncancel is None or uncancel() == 0

    def _arm(self) -> None:
        slow, timeout = self.next_timeout()
        if timeout is not None:
            self.timer = self.loop.call_later(
                timeout, self._fire, slow, time.monotonic(), timeout, context=self.outside
            )

    def _fire(self, slow: _Started, waited: float, timeout: float) -> None:
        hedge: asyncio.Future[T] | None
        try:
            hedge = self.hedge_now(waited, timeout, slow)
        except BaseException as exc:  # raised in the caller's task, as from its own call
            hedge = self.loop.create_future()
            hedge.set_exception(exc)
            self.running[hedge] = self.candidate
        if hedge is not None:
            hedge.add_done_callback(self._hedge_ended)
        if not self.over:
            self._arm()

    def _hedge_ended(self, hedge: asyncio.Future[T]) -> None:
        if self.over or self.ended_by is not None or hedge.cancelled():
            return
        if isinstance(hedge.exception(), ProviderFailure):
            return
        self.ended_by = hedge
        self.owner.cancel()


def _abandon(request: RouteRequest, running: Mapping[Any, Candidate]) -> None:
    """The race is decided: late answers are dropped and the losers recorded as such."""
    request.finished = True
    for call, candidate in list(running.items()):
        if not call.done():  # a call that already ended has recorded its own outcome
            request.record(candidate, "cancelled", error="another candidate answered first")


def _slower_than(
    router: Router,
    running: Mapping[Any, Candidate],
    sent: Mapping[tuple[str, str], _Started],
    won: float | None,
) -> None:
    """Losers sent before the winner that still have no answer timed out, for their health
    (unless this process is too busy to tell)."""
    if not running or won is None or load.saturated():
        return
    now = time.monotonic()
    for call, candidate in running.items():
        began = sent[candidate.key].clock()
        if began is not None and began < won and not call.done():
            failure = ProviderFailure(
                "timeout", f"no answer within {now - began:.1f} s; a later candidate answered"
            )
            router.policy.after_failure(*candidate.key, failure)
