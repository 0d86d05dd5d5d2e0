"""Hedging: when a candidate is slow to answer, start the next one too.

The hedge starts after `hedge_after_ms` (by default the candidate's observed
p95 answer time, never below 1.5 s; 5 s before anything is observed). The
first good answer wins; the other call is cancelled (async) or abandoned
(sync: its thread finishes on its own and its result is dropped), and both
attempts are recorded. Requests with tools bound are not hedged unless
`hedge_tools` is on, since a tool call may have side effects.

`race` and `arace` take one call per candidate (already bound to the request and,
in a traced run, to its callbacks) and a last call that gives up or starts another
round; the failover stage and the traced graph use them alike.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage

from openmux.providers import ProviderFailure
from openmux.routing._call import warm

if TYPE_CHECKING:
    from openmux.routing._context import Router
    from openmux.routing._request import Candidate, RouteRequest

MIN_ADAPTIVE_DELAY = 1.5
UNOBSERVED_DELAY = 5.0

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _threads() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=64, thread_name_prefix="openmux-hedge")
        return _executor


def hedges(router: Router, request: RouteRequest, candidates: Sequence[Candidate]) -> bool:
    settings = router.settings
    return (
        settings.hedging
        and len(candidates) > 1
        and (settings.hedge_tools or not request.needs_tools)
        # media is slow by nature and spends a daily allowance: never make it twice
        and request.output == "text"
    )


def hedge_delay(router: Router, candidate: Candidate) -> float:
    settings = router.settings
    if settings.hedge_after_ms is not None:
        return settings.hedge_after_ms / 1000
    p95 = router.health.p95_first_token_ms(*candidate.key)
    return UNOBSERVED_DELAY if p95 is None else max(MIN_ADAPTIVE_DELAY, p95 / 1000)


def race(
    router: Router,
    request: RouteRequest,
    candidates: Sequence[Candidate],
    calls: Sequence[Callable[[], BaseMessage]],
    last: Callable[[], BaseMessage],
) -> BaseMessage:
    """Call candidates in order, starting the next early when one is slow; `last` when
    every one failed."""
    running: dict[Future[BaseMessage], Candidate] = {}
    index = 0

    def start(hedged: bool) -> None:
        nonlocal index
        candidate = candidates[index]
        if hedged:
            request.hedged.add(candidate.key)
        warm(router, candidate, aio=False)
        context = contextvars.copy_context()
        running[_threads().submit(context.run, calls[index])] = candidate
        index += 1

    start(hedged=False)
    while True:
        timeout = hedge_delay(router, candidates[index - 1]) if index < len(calls) else None
        done, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
        if not done:
            start(hedged=True)
            continue
        for future in done:
            running.pop(future)
            try:
                result = future.result()
            except ProviderFailure:
                continue
            except BaseException:
                _abandon(request, running)
                raise
            _abandon(request, running)
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
    calls: Sequence[Callable[[], Awaitable[BaseMessage]]],
    last: Callable[[], Awaitable[BaseMessage]],
) -> BaseMessage:
    running: dict[asyncio.Task[BaseMessage], Candidate] = {}
    index = 0

    def start(hedged: bool) -> None:
        nonlocal index
        candidate = candidates[index]
        if hedged:
            request.hedged.add(candidate.key)
        warm(router, candidate, aio=True)
        running[asyncio.ensure_future(calls[index]())] = candidate
        index += 1

    start(hedged=False)
    try:
        while True:
            timeout = hedge_delay(router, candidates[index - 1]) if index < len(calls) else None
            done, _ = await asyncio.wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
            if not done:
                start(hedged=True)
                continue
            for task in done:
                running.pop(task)
                try:
                    return task.result()
                except ProviderFailure:
                    continue
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
