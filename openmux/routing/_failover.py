"""Stage 3b, failover: try the candidates until one answers.

Within a round, candidates are tried in order (a slow one raced against the next,
see `_hedge`); a stream fails over, and races, only until its first chunk. When a round ends
with every candidate failed, benching never starves a request: if the soonest
benched candidate returns (or a transient failure may pass) within the request's
deadline, wait for it and run another round; otherwise `NoProviderAvailable`
explains every attempt.

These functions serve runs nobody observes; the traced graph (`_graph`) composes
the same stages from LangChain Runnables (`with_fallbacks`, the race, `next_round`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING, NoReturn

from langchain_core.messages import BaseMessage

from openmux.providers import ProviderFailure
from openmux.routing._call import (
    ainvoke_candidate,
    astream_candidate,
    invoke_candidate,
    stream_candidate,
)
from openmux.routing._hedge import arace, hedges, race
from openmux.routing._request import RouteRequest, request_exhausted

if TYPE_CHECKING:
    from openmux.routing._context import Router
    from openmux.routing._request import Candidate

# Failures worth one more round over the candidates after a short pause.
_TRANSIENT = frozenset({"http_5xx", "connection", "timeout", "bad_response", "rate_limited"})
MAX_ROUNDS = 3


def next_round(request: RouteRequest) -> float:
    """Seconds to wait before another round over the candidates; raises
    `NoProviderAvailable` when no round could help within the request's deadline."""
    this_round = request.attempts[request.round_start :]
    pause: float | None = None
    if not request.out_of_budget and request.rounds + 1 < MAX_ROUNDS and this_round:
        if request.benched:
            pause = min(b.until for b in request.benched) - time.time() + 0.01
        elif any(a.status in _TRANSIENT for a in this_round):
            pause = random.uniform(0.1, 0.3)
    if pause is None or pause >= request.seconds_left:
        raise request_exhausted(request)
    request.rounds += 1
    request.round_start = len(request.attempts)
    request.benched = []
    return request.pause(max(0.0, pause))


def failover(router: Router, request: RouteRequest, candidates: Sequence[Candidate]) -> BaseMessage:
    while True:
        if hedges(router, request, candidates):
            calls = [partial(invoke_candidate, router, c, request) for c in candidates]
            try:
                return race(router, request, candidates, calls, _raise_failed)
            except ProviderFailure:
                pass
        else:
            for candidate in candidates:
                try:
                    return invoke_candidate(router, candidate, request)
                except ProviderFailure:
                    continue
        time.sleep(next_round(request))


async def afailover(
    router: Router, request: RouteRequest, candidates: Sequence[Candidate]
) -> BaseMessage:
    while True:
        if hedges(router, request, candidates):
            calls = [partial(ainvoke_candidate, router, c, request) for c in candidates]
            try:
                return await arace(router, request, candidates, calls, _araise_failed)
            except ProviderFailure:
                pass
        else:
            for candidate in candidates:
                try:
                    return await ainvoke_candidate(router, candidate, request)
                except ProviderFailure:
                    continue
        await asyncio.sleep(next_round(request))


Opened = tuple[BaseMessage, Iterator[BaseMessage]]
AOpened = tuple[BaseMessage, AsyncIterator[BaseMessage]]


def first_chunk(chunks: Iterator[BaseMessage]) -> Opened:
    """The stream's first chunk (the stream is committed to from here on) and the rest."""
    return next(chunks), chunks


async def afirst_chunk(chunks: AsyncIterator[BaseMessage]) -> AOpened:
    return await anext(chunks), chunks


def failover_stream(
    router: Router, request: RouteRequest, candidates: Sequence[Candidate]
) -> Iterator[BaseMessage]:
    while True:
        opened: Opened | None = None
        if hedges(router, request, candidates):
            calls = [partial(first_chunk, stream_candidate(router, c, request)) for c in candidates]
            with contextlib.suppress(ProviderFailure):
                opened = race(router, request, candidates, calls, _raise_failed)
        else:
            for candidate in candidates:
                with contextlib.suppress(ProviderFailure):
                    opened = first_chunk(stream_candidate(router, candidate, request))
                    break
        if opened is not None:
            first, chunks = opened
            yield first
            yield from chunks
            return
        time.sleep(next_round(request))


async def afailover_stream(
    router: Router, request: RouteRequest, candidates: Sequence[Candidate]
) -> AsyncIterator[BaseMessage]:
    while True:
        opened: AOpened | None = None
        if hedges(router, request, candidates):
            calls = [
                partial(afirst_chunk, astream_candidate(router, c, request)) for c in candidates
            ]
            with contextlib.suppress(ProviderFailure):
                opened = await arace(router, request, candidates, calls, _araise_failed)
        else:
            for candidate in candidates:
                with contextlib.suppress(ProviderFailure):
                    opened = await afirst_chunk(astream_candidate(router, candidate, request))
                    break
        if opened is not None:
            first, chunks = opened
            yield first
            async for chunk in chunks:
                yield chunk
            return
        await asyncio.sleep(next_round(request))


def _raise_failed() -> NoReturn:
    raise ProviderFailure("connection", "every candidate of this round failed")


async def _araise_failed() -> NoReturn:
    _raise_failed()
