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
from typing import TYPE_CHECKING, Any, TypeVar

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
    running: dict[asyncio.Task[T], Candidate] = {}
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
        warm(router, candidate, request, aio=True)
        with watching_sends() as sends:  # the task copies this context as it is created
            sent[candidate.key] = _Started(sends)
            running[asyncio.ensure_future(calls[index]())] = candidate
        index += 1

    start(hedged=False)
    try:
        while True:
            slow = sent[candidates[index - 1].key]
            timeout = _next_hedge(router, candidates, index, slow)
            waited = time.monotonic()
            done, _ = await asyncio.wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
            if not done:
                if _may_hedge(waited, timeout, slow, hedge_delay(router, candidates[index - 1])):
                    start(hedged=True)
                continue
            for task in done:
                winner = running.pop(task)
                try:
                    result = task.result()
                except ProviderFailure:
                    continue
                _slower_than(router, running, sent, sent[winner.key].clock())
                return result
            if running:
                continue
            if index < len(calls):
                start(hedged=False)
                continue
            return await last()
    finally:
        _abandon(request, running)
        for task in running:
            task.cancel()


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
    if load.saturated() or won is None:
        return
    now = time.monotonic()
    for call, candidate in running.items():
        began = sent[candidate.key].clock()
        if began is not None and began < won and not call.done():
            failure = ProviderFailure(
                "timeout", f"no answer within {now - began:.1f} s; a later candidate answered"
            )
            router.policy.after_failure(*candidate.key, failure)
