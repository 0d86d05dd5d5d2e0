"""The fan-out pipeline: classify → plan the members → run them at once → combine.

As for a single request (`_graph`), the stages run either composed from stock
LangChain Runnables, for traced runs::

    RunnableLambda(classify)
      | RunnableBranch(
            (needs other output → RunnableLambda(raise_unsupported)),
            RunnableLambda(fan_out) → RunnableParallel({"member_0": ..., "member_1": ...})
                                      | CombineRunnable(best | vote | concat | ...),
        )

or in sequence, for runs nobody observes (members in threads or tasks).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import (
    Runnable,
    RunnableBranch,
    RunnableConfig,
    RunnableLambda,
    RunnableParallel,
)

from openmux.combiners import MemberAnswer, get_combiner
from openmux.routing._cached import acache_lookup, cache_lookup, cached_graph
from openmux.routing._call import ainvoke_candidate, invoke_candidate
from openmux.routing._classify import aclassify, classify, needs_other_output, raise_unsupported
from openmux.routing._combine import (
    CombinerCalls,
    acombine,
    astream_combine,
    combine,
    stream_combine,
)
from openmux.routing._fanout import FanoutRequest, plan_members
from openmux.routing._graph import aanswer, answer
from openmux.routing._members import arun_member, run_member
from openmux.routing._request import Candidate, RouteRequest
from openmux.routing._traced import CandidateRunnable, FailoverChains

if TYPE_CHECKING:
    from openmux.routing._context import Router


# -- runs nobody observes -------------------------------------------------------------------


def _planned(router: Router, state: FanoutRequest) -> None:
    if needs_other_output(state):
        raise_unsupported(state)
    plan_members(router, state)


def _members(router: Router, state: FanoutRequest) -> list[MemberAnswer]:
    def call(candidate: Candidate, request: RouteRequest) -> BaseMessage:
        return invoke_candidate(router, candidate, request)

    count = len(state.members)
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="openmux-member") as pool:
        runs = [
            pool.submit(contextvars.copy_context().run, run_member, state, i, call)
            for i in range(count)
        ]
        return [run.result() for run in runs]


async def _amembers(router: Router, state: FanoutRequest) -> list[MemberAnswer]:
    async def call(candidate: Candidate, request: RouteRequest) -> BaseMessage:
        return await ainvoke_candidate(router, candidate, request)

    runs = (arun_member(state, i, call) for i in range(len(state.members)))
    return list(await asyncio.gather(*runs))


def fanout_answer(router: Router, state: FanoutRequest) -> BaseMessage:
    cached = cache_lookup(router, state)
    if cached.hit is not None:
        return cached.replay()
    classify(router, state, partial(answer, router))
    _planned(router, state)
    return cached.keep(combine(state, _members(router, state), CombinerCalls(router, state)))


async def afanout_answer(router: Router, state: FanoutRequest) -> BaseMessage:
    cached = await acache_lookup(router, state)
    if cached.hit is not None:
        return cached.replay()
    await aclassify(router, state, partial(aanswer, router))
    _planned(router, state)
    answers = await _amembers(router, state)
    return await cached.akeep(await acombine(state, answers, CombinerCalls(router, state)))


def stream_fanout_answer(router: Router, state: FanoutRequest) -> Iterator[BaseMessage]:
    cached = cache_lookup(router, state)
    if cached.hit is not None:
        yield from cached.replay_chunks()
        return
    classify(router, state, partial(answer, router))
    _planned(router, state)
    chunks = stream_combine(state, _members(router, state), CombinerCalls(router, state))
    yield from cached.keep_stream(chunks)


async def astream_fanout_answer(router: Router, state: FanoutRequest) -> AsyncIterator[BaseMessage]:
    cached = await acache_lookup(router, state)
    if cached.hit is not None:
        async for chunk in cached.areplay_chunks():
            yield chunk
        return
    await aclassify(router, state, partial(aanswer, router))
    _planned(router, state)
    answers = await _amembers(router, state)
    chunks = astream_combine(state, answers, CombinerCalls(router, state))
    async for chunk in cached.akeep_stream(chunks):
        yield chunk


# -- the traced graph -----------------------------------------------------------------------


class CombineRunnable(Runnable[Mapping[str, Any], BaseMessage]):
    """Takes the members' answers (the RunnableParallel's output) and runs the combiner."""

    def __init__(self, router: Router, state: FanoutRequest, chains: FailoverChains) -> None:
        self.router = router
        self.state = state
        self.chains = chains
        self.name = f"combine:{get_combiner(state.combiner).name}"

    def _calls(self, run_manager: Any) -> CombinerCalls:
        return CombinerCalls(
            self.router, self.state, (self.chains, {"callbacks": run_manager.get_child()})
        )

    def invoke(
        self, input: Mapping[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage:
        return self._call_with_config(self._invoke, input, config, run_type="chain")

    async def ainvoke(
        self, input: Mapping[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage:
        return await self._acall_with_config(self._ainvoke, input, config, run_type="chain")

    def transform(
        self,
        input: Iterator[Mapping[str, Any]],
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> Iterator[BaseMessage]:
        yield from self._transform_stream_with_config(input, self._stream, config)

    def stream(
        self, input: Mapping[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[BaseMessage]:
        yield from self.transform(iter([input]), config)

    async def atransform(
        self,
        input: AsyncIterator[Mapping[str, Any]],
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[BaseMessage]:
        async for chunk in self._atransform_stream_with_config(input, self._astream, config):
            yield chunk

    async def astream(
        self, input: Mapping[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[BaseMessage]:
        async def one() -> AsyncIterator[Mapping[str, Any]]:
            yield input

        async for chunk in self.atransform(one(), config):
            yield chunk

    def _invoke(self, answers: Mapping[str, Any], run_manager: Any) -> BaseMessage:
        return combine(self.state, _answers(answers), self._calls(run_manager))

    async def _ainvoke(self, answers: Mapping[str, Any], run_manager: Any) -> BaseMessage:
        return await acombine(self.state, _answers(answers), self._calls(run_manager))

    def _stream(
        self, inputs: Iterator[Mapping[str, Any]], run_manager: Any
    ) -> Iterator[BaseMessage]:
        # A RunnableParallel streams its output key by key: gather every member first.
        answers = {key: value for part in inputs for key, value in part.items()}
        yield from stream_combine(self.state, _answers(answers), self._calls(run_manager))

    async def _astream(
        self, inputs: AsyncIterator[Mapping[str, Any]], run_manager: Any
    ) -> AsyncIterator[BaseMessage]:
        answers = {key: value async for part in inputs for key, value in part.items()}
        calls = self._calls(run_manager)
        async for chunk in astream_combine(self.state, _answers(answers), calls):
            yield chunk


def _answers(answers: Mapping[str, Any]) -> list[MemberAnswer]:
    return [a for a in answers.values() if isinstance(a, MemberAnswer)]


def build_fanout_graph(router: Router) -> Runnable[FanoutRequest, BaseMessage]:
    chains = FailoverChains(router)

    def member_node(index: int) -> Runnable[FanoutRequest, MemberAnswer]:
        def run(state: FanoutRequest, config: RunnableConfig) -> MemberAnswer:
            def call(candidate: Candidate, request: RouteRequest) -> BaseMessage:
                return CandidateRunnable(router, candidate).invoke(request, config)

            return run_member(state, index, call)

        async def arun(state: FanoutRequest, config: RunnableConfig) -> MemberAnswer:
            async def call(candidate: Candidate, request: RouteRequest) -> BaseMessage:
                return await CandidateRunnable(router, candidate).ainvoke(request, config)

            return await arun_member(state, index, call)

        return RunnableLambda(run, afunc=arun, name=f"member_{index}")

    def fan_out(state: FanoutRequest) -> Runnable[FanoutRequest, BaseMessage]:
        plan_members(router, state)
        members = RunnableParallel({f"member_{m.rank}": member_node(m.rank) for m in state.members})
        return members | CombineRunnable(router, state, chains)

    async def afan_out(state: FanoutRequest) -> Runnable[FanoutRequest, BaseMessage]:
        return fan_out(state)

    def classify_node(request: FanoutRequest) -> FanoutRequest:
        classify(router, request, partial(answer, router))
        return request

    async def aclassify_node(request: FanoutRequest) -> FanoutRequest:
        await aclassify(router, request, partial(aanswer, router))
        return request

    unsupported = RunnableLambda(raise_unsupported, name="unsupported_task")
    branch: Runnable[FanoutRequest, BaseMessage] = RunnableBranch(
        (RunnableLambda(needs_other_output), unsupported),
        RunnableLambda(fan_out, afunc=afan_out, name="fan_out"),  # type: ignore[arg-type]
    )
    return RunnableLambda(classify_node, afunc=aclassify_node, name="classify") | branch


_GRAPHS: weakref.WeakKeyDictionary[Router, Runnable[FanoutRequest, BaseMessage]] = (
    weakref.WeakKeyDictionary()
)
_GRAPHS_LOCK = threading.Lock()


def fanout_graph(router: Router) -> Runnable[FanoutRequest, BaseMessage]:
    """The router's traced fan-out graph, built on first use."""
    with _GRAPHS_LOCK:
        graph = _GRAPHS.get(router)
        if graph is None:
            graph = _GRAPHS[router] = cached_graph(router, build_fanout_graph(router))
        return graph
