"""The stages as LangChain Runnables, for traced runs: each candidate is a chain run
a tracer can see, and failover is `with_fallbacks` (with hedging, see `_hedge`)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import (
    Runnable,
    RunnableConfig,
    RunnableLambda,
    RunnableWithFallbacks,
)
from langchain_core.runnables.config import patch_config
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.log_stream import LogStreamCallbackHandler

from openmux.providers import ProviderFailure
from openmux.routing._call import (
    UNOBSERVED,
    ainvoke_candidate,
    astream_candidate,
    invoke_candidate,
    stream_candidate,
)
from openmux.routing._failover import afirst_chunk, first_chunk, next_round
from openmux.routing._hedge import arace, hedges, race
from openmux.routing._request import Candidate, RouteRequest

if TYPE_CHECKING:
    from openmux.routing._context import Router


def inner_config(run_manager: Any) -> RunnableConfig:
    """The provider's own chat-model run is shown to tracers only: other handlers and
    event streams see one chat-model run (ChatOpenMux's), so tokens count once."""
    if run_manager is None:
        return UNOBSERVED
    child = run_manager.get_child()
    child.handlers = [h for h in child.handlers if _is_tracer(h)]
    child.inheritable_handlers = [h for h in child.inheritable_handlers if _is_tracer(h)]
    return {"callbacks": child}


def _is_tracer(handler: Any) -> bool:
    return isinstance(handler, BaseTracer) and not isinstance(handler, LogStreamCallbackHandler)


class CandidateRunnable(Runnable[RouteRequest, BaseMessage]):
    """One candidate as a chain run named "provider:model"; tracers also see the
    provider's own chat-model run inside it."""

    def __init__(self, router: Router, candidate: Candidate) -> None:
        self.router = router
        self.candidate = candidate
        self.name = f"{candidate.provider.name}:{candidate.model.id}"

    def invoke(
        self, input: RouteRequest, config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage:
        return self._call_with_config(self._invoke, input, config, run_type="chain")

    async def ainvoke(
        self, input: RouteRequest, config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage:
        return await self._acall_with_config(self._ainvoke, input, config, run_type="chain")

    def stream(
        self, input: RouteRequest, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[BaseMessage]:
        yield from self._transform_stream_with_config(iter([input]), self._stream, config)

    async def astream(
        self, input: RouteRequest, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[BaseMessage]:
        async def one() -> AsyncIterator[RouteRequest]:
            yield input

        async for chunk in self._atransform_stream_with_config(one(), self._astream, config):
            yield chunk

    def _invoke(self, request: RouteRequest, run_manager: Any) -> BaseMessage:
        return invoke_candidate(self.router, self.candidate, request, inner_config(run_manager))

    async def _ainvoke(self, request: RouteRequest, run_manager: Any) -> BaseMessage:
        config = inner_config(run_manager)
        return await ainvoke_candidate(self.router, self.candidate, request, config)

    def _stream(self, requests: Iterator[RouteRequest], run_manager: Any) -> Iterator[BaseMessage]:
        request = next(requests)
        config = inner_config(run_manager)
        yield from stream_candidate(self.router, self.candidate, request, config)

    async def _astream(
        self, requests: AsyncIterator[RouteRequest], run_manager: Any
    ) -> AsyncIterator[BaseMessage]:
        request = await anext(requests)
        config = inner_config(run_manager)
        async for chunk in astream_candidate(self.router, self.candidate, request, config):
            yield chunk


class HedgedFallbacks(RunnableWithFallbacks[RouteRequest, BaseMessage]):
    """`with_fallbacks` that races a slow candidate against the next (`_hedge`): invokes
    until the answer, streams until their first chunk."""

    router: Any = None
    candidates: list[Any] = []

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if not hedges(self.router, input, self.candidates):
            return super().invoke(input, config, **kwargs)
        return self._call_with_config(self._race, input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if not hedges(self.router, input, self.candidates):
            return await super().ainvoke(input, config, **kwargs)
        return await self._acall_with_config(self._arace, input, config)

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        if not hedges(self.router, input, self.candidates):
            yield from super().stream(input, config, **kwargs)
            return
        yield from self._transform_stream_with_config(iter([input]), self._race_stream, config)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        if not hedges(self.router, input, self.candidates):
            async for chunk in super().astream(input, config, **kwargs):
                yield chunk
            return

        async def one() -> AsyncIterator[RouteRequest]:
            yield input

        async for chunk in self._atransform_stream_with_config(one(), self._arace_stream, config):
            yield chunk

    def _race_stream(
        self, requests: Iterator[RouteRequest], run_manager: Any, config: RunnableConfig
    ) -> Iterator[BaseMessage]:
        request = next(requests)
        *calls, last = [partial(first_chunk, r.stream(request, config)) for r in self.runnables]
        first, chunks = race(self.router, request, self.candidates, calls, last)
        yield first
        yield from chunks

    async def _arace_stream(
        self, requests: AsyncIterator[RouteRequest], run_manager: Any, config: RunnableConfig
    ) -> AsyncIterator[BaseMessage]:
        request = await anext(requests)
        *calls, last = [partial(afirst_chunk, r.astream(request, config)) for r in self.runnables]
        first, chunks = await arace(self.router, request, self.candidates, calls, last)
        yield first
        async for chunk in chunks:
            yield chunk

    def _race(self, request: RouteRequest, run_manager: Any, config: RunnableConfig) -> Any:
        child = patch_config(config, callbacks=run_manager.get_child())
        *calls, last = [partial(r.invoke, request, child) for r in self.runnables]
        return race(self.router, request, self.candidates, calls, last)

    async def _arace(self, request: RouteRequest, run_manager: Any, config: RunnableConfig) -> Any:
        child = patch_config(config, callbacks=run_manager.get_child())
        *calls, last = [partial(r.ainvoke, request, child) for r in self.runnables]
        return await arace(self.router, request, self.candidates, calls, last)


class FailoverChains:
    """Failover chains by candidate list, so a repeated request builds nothing."""

    def __init__(self, router: Router, size: int = 256) -> None:
        self.router = router
        self._chains: OrderedDict[tuple[Any, ...], Runnable[RouteRequest, BaseMessage]] = (
            OrderedDict()
        )
        self._size = size
        self._lock = threading.Lock()

    def chain(self, candidates: Sequence[Candidate]) -> Runnable[RouteRequest, BaseMessage]:
        key = tuple((c.key, c.reason) for c in candidates)
        with self._lock:
            chain = self._chains.get(key)
            if chain is not None:
                self._chains.move_to_end(key)
                return chain
        chain = self._build(list(candidates))
        with self._lock:
            self._chains[key] = chain
            if len(self._chains) > self._size:
                self._chains.popitem(last=False)
        return chain

    def _build(self, candidates: list[Candidate]) -> Runnable[RouteRequest, BaseMessage]:
        holder: list[Runnable[RouteRequest, BaseMessage]] = []

        def again(request: RouteRequest) -> Runnable[RouteRequest, BaseMessage]:
            time.sleep(next_round(request))
            return holder[0]

        async def aagain(request: RouteRequest) -> Runnable[RouteRequest, BaseMessage]:
            await asyncio.sleep(next_round(request))
            return holder[0]

        give_up: Runnable[RouteRequest, BaseMessage] = RunnableLambda(
            again,  # type: ignore[arg-type]
            afunc=aagain,  # type: ignore[arg-type]
            name="next_round",
        )
        steps = [CandidateRunnable(self.router, c) for c in candidates]
        if not steps:
            return give_up
        chain = HedgedFallbacks(
            runnable=steps[0],
            fallbacks=[*steps[1:], give_up],
            exceptions_to_handle=(ProviderFailure,),
            router=self.router,
            candidates=candidates,
        )
        holder.append(chain)
        return chain
