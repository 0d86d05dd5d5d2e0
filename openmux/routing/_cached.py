"""The response cache stage: looked up before classification, kept once an answer is whole.

A hit answers at once (no classification, no provider request, no quota) and marks the
request `cached`; its metadata is the routing of the answer it replays. A miss keeps
the answer when it is complete: an invoked message as soon as it returns, a stream after
its last chunk. An error, a stream the caller stops early, or an answer made offline
because the network was down (unless offline was asked for) keeps nothing.

Only requests that carry a `cache_scope` take part (what a surface such as ChatOpenMux
knows can change the answer: its settings fingerprint, classifier, instance options);
the router's own inner calls (a combiner's model, the second-tier classifier) do not.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableGenerator, RunnableLambda

from openmux.cache import CachedAnswer, RequestKey, ResponseCache, answer_options, request_key
from openmux.routing._fanout import FanoutRequest

if TYPE_CHECKING:
    from openmux.routing._context import Router
    from openmux.routing._request import RouteRequest


class CacheLookup:
    """One request's look-up: the cached answer it replays, or how its answer is kept."""

    def __init__(
        self,
        request: RouteRequest,
        cache: ResponseCache | None = None,
        key: RequestKey | None = None,
        hit: CachedAnswer | None = None,
        *,
        offline_by_choice: bool = False,
    ) -> None:
        self.request = request
        self.cache = cache
        self.key = key
        self.hit = hit
        self.offline_by_choice = offline_by_choice
        if hit is not None:
            request.cached_from = hit.routing

    def replay(self) -> BaseMessage:
        assert self.hit is not None
        return self.hit.message()

    def replay_chunks(self) -> Iterator[BaseMessage]:
        assert self.hit is not None
        yield from self.hit.chunks()

    async def areplay_chunks(self) -> AsyncIterator[BaseMessage]:
        for chunk in self.replay_chunks():
            yield chunk

    def keep(self, message: BaseMessage) -> BaseMessage:
        self._put([message])
        return message

    async def akeep(self, message: BaseMessage) -> BaseMessage:
        await self._aput([message])
        return message

    def keep_stream(self, chunks: Iterator[BaseMessage]) -> Iterator[BaseMessage]:
        seen: list[BaseMessage] = []
        for chunk in chunks:
            seen.append(chunk)
            yield chunk
        self._put(seen)

    async def akeep_stream(self, chunks: AsyncIterator[BaseMessage]) -> AsyncIterator[BaseMessage]:
        seen: list[BaseMessage] = []
        async for chunk in chunks:
            seen.append(chunk)
            yield chunk
        await self._aput(seen)

    def _put(self, messages: list[BaseMessage]) -> None:
        if self.cache is None or self.key is None or not messages:
            return
        if self.request.offline and not self.offline_by_choice:
            return  # the network was down: a fallback's answer, not one to replay once it is up
        self.cache.put(self.key, CachedAnswer.of(messages, self.request.metadata()))

    async def _aput(self, messages: list[BaseMessage]) -> None:
        if self.cache is not None:
            await asyncio.to_thread(self._put, messages)


class CacheHitRunnable(Runnable[Any, BaseMessage]):
    """A hit as a run of its own: invoked, the answer; streamed, its chunks."""

    name = "cache_hit"

    def __init__(self, lookup: CacheLookup) -> None:
        self.lookup = lookup

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(lambda _: self.lookup.replay(), input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        async def replay(_: Any) -> BaseMessage:
            return self.lookup.replay()

        return await self._acall_with_config(replay, input, config)

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        replay = lambda _: self.lookup.replay_chunks()  # noqa: E731
        yield from self._transform_stream_with_config(iter([input]), replay, config)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        async def one() -> AsyncIterator[Any]:
            yield input

        replay = lambda _: self.lookup.areplay_chunks()  # noqa: E731
        async for chunk in self._atransform_stream_with_config(one(), replay, config):
            yield chunk


def cache_lookup(router: Router, request: RouteRequest) -> CacheLookup:
    cache = router.response_cache
    if cache is None or request.cache_scope is None:
        return CacheLookup(request)
    key = request_key(request.messages, _answer_changing(request))
    hit = cache.get(key) if request.cache_read else None
    if hit is not None:
        routing = hit.routing
        router.quotas.count_cache_hit(
            str(routing.get("provider")), str(routing.get("model")), str(routing.get("task"))
        )
    return CacheLookup(request, cache, key, hit, offline_by_choice=router.settings.offline)


async def acache_lookup(router: Router, request: RouteRequest) -> CacheLookup:
    if router.response_cache is None or request.cache_scope is None:
        return CacheLookup(request)
    # The state backend and the embedding model block: keep them off the event loop.
    return await asyncio.to_thread(cache_lookup, router, request)


def cached_graph(router: Router, graph: Runnable[Any, BaseMessage]) -> Runnable[Any, BaseMessage]:
    """The traced graph behind the cache: a hit is a `cache_hit` run replaying the answer,
    a miss runs the graph and then `cache_keep`, which passes each chunk on."""

    def route(lookup: CacheLookup) -> Runnable[Any, BaseMessage]:
        if lookup.hit is not None:
            return CacheHitRunnable(lookup)
        if lookup.cache is None:
            return graph
        keep = RunnableGenerator(lookup.keep_stream, lookup.akeep_stream, name="cache_keep")
        return graph | keep

    def look_up(request: RouteRequest) -> Runnable[Any, BaseMessage]:
        return route(cache_lookup(router, request))

    async def alook_up(request: RouteRequest) -> Runnable[Any, BaseMessage]:
        return route(await acache_lookup(router, request))

    return RunnableLambda(look_up, afunc=alook_up, name="cache")


# Body fields the key holds in their own form: the messages normalised, the model as pins.
_KEYED_APART = frozenset({"messages", "model"})


def _answer_changing(request: RouteRequest) -> dict[str, Any]:
    """Everything besides the messages that changes the answer (see openmux.cache)."""
    options: dict[str, Any] = {
        "caller": request.cache_scope,
        "call": answer_options(request.call_kwargs),
        "pins": [request.task, request.model, request.provider],
        "output": request.output,
    }
    if request.openai_body is not None:
        # A served body reaches the provider as it came: a field the call options leave
        # out (a penalty, a logit bias) changes the answer all the same.
        body = {k: v for k, v in request.openai_body.items() if k not in _KEYED_APART}
        options["body"] = answer_options(body)
    if isinstance(request, FanoutRequest):
        options["fanout"] = [
            request.fanout,
            request.combiner,
            request.judge,
            request.min_answers,
            request.member_timeout,
        ]
    return options
