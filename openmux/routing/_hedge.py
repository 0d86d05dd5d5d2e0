"""Hedged failover: when a candidate is slow to answer, start the next one too.

The hedge starts after `hedge_after_ms` (by default the candidate's observed
p95 answer time, never below 1.5 s; 5 s before anything is observed). The
first good answer wins; the other call is cancelled (async) or abandoned
(sync: its thread finishes on its own and its result is dropped), and both
attempts are recorded. Requests with tools bound are not hedged unless
`hedge_tools` is on, since a tool call may have side effects.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import patch_config

from openmux.providers import ProviderFailure
from openmux.routing._candidate import CandidateRunnable
from openmux.routing._quiet import QUIET, Failover
from openmux.routing._request import RouteRequest

if TYPE_CHECKING:
    from openmux.routing import Router

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


def hedge_delay(router: Router, runnable: CandidateRunnable) -> float:
    settings = router.settings
    if settings.hedge_after_ms is not None:
        return settings.hedge_after_ms / 1000
    p95 = router.health.p95_first_token_ms(*runnable.candidate.key)
    return UNOBSERVED_DELAY if p95 is None else max(MIN_ADAPTIVE_DELAY, p95 / 1000)


class HedgedFailover(Failover):
    router: Any = None

    def _hedges(self, request: RouteRequest) -> bool:
        settings = self.router.settings
        candidates = [r for r in self.runnables if isinstance(r, CandidateRunnable)]
        return (
            settings.hedging
            and len(candidates) > 1
            and (settings.hedge_tools or not request.needs_tools)
        )

    def _delay_after(self, order: list[Runnable[Any, Any]], index: int) -> float | None:
        """How long to wait on order[index - 1] before hedging with order[index]."""
        if index >= len(order) or not isinstance(order[index], CandidateRunnable):
            return None
        started = order[index - 1]
        assert isinstance(started, CandidateRunnable)
        return hedge_delay(self.router, started)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if not self._hedges(input):
            return super().invoke(input, config, **kwargs)
        if config is QUIET:
            return self._race(input, lambda: QUIET)
        return self._call_with_config(self._race_observed, input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if not self._hedges(input):
            return await super().ainvoke(input, config, **kwargs)
        if config is QUIET:
            return await self._arace(input, lambda: QUIET)
        return await self._acall_with_config(self._arace_observed, input, config)

    def _race_observed(
        self, request: RouteRequest, run_manager: Any, config: RunnableConfig
    ) -> Any:
        return self._race(request, lambda: patch_config(config, callbacks=run_manager.get_child()))

    async def _arace_observed(
        self, request: RouteRequest, run_manager: Any, config: RunnableConfig
    ) -> Any:
        return await self._arace(
            request, lambda: patch_config(config, callbacks=run_manager.get_child())
        )

    def _race(self, request: RouteRequest, child: Any) -> BaseMessage:
        order = list(self.runnables)
        running: dict[Future[BaseMessage], CandidateRunnable] = {}
        first_error: ProviderFailure | None = None
        index = 0

        def start(hedged: bool) -> None:
            nonlocal index
            runnable = order[index]
            assert isinstance(runnable, CandidateRunnable)
            if hedged:
                request.hedged.add(runnable.candidate.key)
            runnable.warm(aio=False)
            context = contextvars.copy_context()
            future = _threads().submit(context.run, runnable.invoke, request, child())
            running[future] = runnable
            index += 1

        start(hedged=False)
        while True:
            timeout = self._delay_after(order, index)
            done, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
            if not done:
                start(hedged=True)
                continue
            for future in done:
                running.pop(future)
                try:
                    result = future.result()
                except ProviderFailure as error:
                    first_error = first_error or error
                    continue
                except BaseException:
                    self._abandon(request, running)
                    raise
                self._abandon(request, running)
                return result
            if running:
                continue
            if index < len(order) and isinstance(order[index], CandidateRunnable):
                start(hedged=False)
                continue
            if index < len(order):  # the last fallback: wait for benches or explain
                return order[index].invoke(request, child())
            assert first_error is not None
            raise first_error

    async def _arace(self, request: RouteRequest, child: Any) -> BaseMessage:
        order = list(self.runnables)
        running: dict[asyncio.Task[BaseMessage], CandidateRunnable] = {}
        first_error: ProviderFailure | None = None
        index = 0

        def start(hedged: bool) -> None:
            nonlocal index
            runnable = order[index]
            assert isinstance(runnable, CandidateRunnable)
            if hedged:
                request.hedged.add(runnable.candidate.key)
            runnable.warm(aio=True)
            running[asyncio.ensure_future(runnable.ainvoke(request, child()))] = runnable
            index += 1

        start(hedged=False)
        try:
            while True:
                timeout = self._delay_after(order, index)
                done, _ = await asyncio.wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
                if not done:
                    start(hedged=True)
                    continue
                for task in done:
                    running.pop(task)
                    try:
                        result = task.result()
                    except ProviderFailure as error:
                        first_error = first_error or error
                        continue
                    return result
                if running:
                    continue
                if index < len(order) and isinstance(order[index], CandidateRunnable):
                    start(hedged=False)
                    continue
                if index < len(order):
                    return await order[index].ainvoke(request, child())
                assert first_error is not None
                raise first_error
        finally:
            self._abandon(request, running)
            for task in running:
                task.cancel()

    @staticmethod
    def _abandon(request: RouteRequest, running: dict[Any, CandidateRunnable]) -> None:
        """The race is decided: late answers are dropped and the losers recorded as such."""
        request.finished = True
        for call, runnable in list(running.items()):
            if not call.done():  # a call that already ended has recorded its own outcome
                request.record(
                    runnable.candidate, "cancelled", error="another candidate answered first"
                )
