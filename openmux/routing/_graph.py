"""The pipeline: classify → select (a branch per kind of output) → call with failover.
(A question about an attached recording is transcribed first, then answered as text:
`_listen`.)

Two ways to run the same stage functions:

- `build_graph` composes them from stock LangChain Runnables, for traced runs (each
  stage and each candidate is a run a tracer can see)::

      RunnableLambda(classify)
        | RunnableBranch(
              (needs other output → RunnableLambda(raise_unsupported)),
              RunnableLambda(select) → candidate.with_fallbacks([...next, next_round]),
          )

  `select` returns a Runnable, which RunnableLambda then runs with the same input
  (invoke, stream and their async forms alike), so streaming flows through.

- `answer`, `aanswer`, `stream_answer` and `astream_answer` call the stages in
  sequence, for runs nobody observes (no handler, tracer or event stream), which
  then pay no run bookkeeping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from functools import partial
from typing import TYPE_CHECKING

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableBranch, RunnableLambda

from openmux.routing._cached import acache_lookup, cache_lookup, cached_graph
from openmux.routing._classify import aclassify, classify, needs_other_output, raise_unsupported
from openmux.routing._failover import afailover, afailover_stream, failover, failover_stream
from openmux.routing._listen import alisten, listen
from openmux.routing._request import Candidate, RouteRequest
from openmux.routing._select import select
from openmux.routing._traced import FailoverChains

if TYPE_CHECKING:
    from openmux.routing._context import Router


# -- runs nobody observes -------------------------------------------------------------------


def _classified(router: Router, request: RouteRequest) -> list[Candidate]:
    if needs_other_output(request):
        raise_unsupported(request)
    return select(router, request)


def plan(router: Router, request: RouteRequest) -> RouteRequest:
    """Classify and select without calling anything (what a request would try, in order)."""
    classify(router, request, partial(answer, router))
    request.candidates = _classified(router, request)
    return request


def answer(router: Router, request: RouteRequest) -> BaseMessage:
    cached = cache_lookup(router, request)
    if cached.hit is not None:
        return cached.replay()
    classify(router, request, partial(answer, router))
    listen(request, partial(answer, router))
    return cached.keep(failover(router, request, _classified(router, request)))


async def aanswer(router: Router, request: RouteRequest) -> BaseMessage:
    cached = await acache_lookup(router, request)
    if cached.hit is not None:
        return cached.replay()
    await aclassify(router, request, partial(aanswer, router))
    await alisten(request, partial(aanswer, router))
    return await cached.akeep(await afailover(router, request, _classified(router, request)))


def stream_answer(router: Router, request: RouteRequest) -> Iterator[BaseMessage]:
    cached = cache_lookup(router, request)
    if cached.hit is not None:
        yield from cached.replay_chunks()
        return
    classify(router, request, partial(answer, router))
    listen(request, partial(answer, router))
    yield from cached.keep_stream(failover_stream(router, request, _classified(router, request)))


async def astream_answer(router: Router, request: RouteRequest) -> AsyncIterator[BaseMessage]:
    cached = await acache_lookup(router, request)
    if cached.hit is not None:
        async for chunk in cached.areplay_chunks():
            yield chunk
        return
    await aclassify(router, request, partial(aanswer, router))
    await alisten(request, partial(aanswer, router))
    chunks = afailover_stream(router, request, _classified(router, request))
    async for chunk in cached.akeep_stream(chunks):
        yield chunk


def build_graph(router: Router) -> Runnable[RouteRequest, BaseMessage]:
    chains = FailoverChains(router)

    def classify_node(request: RouteRequest) -> RouteRequest:
        classify(router, request, partial(answer, router))
        return listen(request, partial(answer, router))

    async def aclassify_node(request: RouteRequest) -> RouteRequest:
        await aclassify(router, request, partial(aanswer, router))
        return await alisten(request, partial(aanswer, router))

    def route(request: RouteRequest) -> Runnable[RouteRequest, BaseMessage]:
        return chains.chain(select(router, request))

    async def aroute(request: RouteRequest) -> Runnable[RouteRequest, BaseMessage]:
        return route(request)

    unsupported = RunnableLambda(raise_unsupported, name="unsupported_task")
    branch: Runnable[RouteRequest, BaseMessage] = RunnableBranch(
        (RunnableLambda(needs_other_output), unsupported),
        RunnableLambda(route, afunc=aroute, name="select"),  # type: ignore[arg-type]
    )
    graph = RunnableLambda(classify_node, afunc=aclassify_node, name="classify") | branch
    return cached_graph(router, graph)
