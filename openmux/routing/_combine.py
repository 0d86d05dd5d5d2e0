"""Stage 5, combine: the members' answers become one (see `openmux.combiners`).

A combiner that needs a model of its own (best's judge, summarize's merger) calls it
through `CombinerCalls`: the same select and failover as any request, its attempts
recorded in the fan-out's metadata. Traced runs pass the combine run's callbacks.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata, add_usage
from langchain_core.runnables import RunnableConfig

from openmux.combiners import CombineJob, MemberAnswer, get_combiner
from openmux.errors import NoProviderAvailable
from openmux.routing._failover import afailover, afailover_stream, failover, failover_stream
from openmux.routing._fanout import FanoutRequest, local_only
from openmux.routing._request import Candidate, RouteRequest
from openmux.routing._select import select

if TYPE_CHECKING:
    from openmux.routing._context import Router
    from openmux.routing._traced import FailoverChains

# Sampling options a merging model inherits from the caller (never tools or formats).
_MERGE_KWARGS = ("temperature", "max_tokens")


def _add(total: UsageMetadata | None, more: UsageMetadata | None) -> UsageMetadata | None:
    if more is None:
        return total
    return more if total is None else add_usage(total, more)


class CombinerCalls:
    """`ModelCalls` for a combiner: select (optionally local only), fail over, record."""

    def __init__(
        self,
        router: Router,
        state: FanoutRequest,
        traced: tuple[FailoverChains, RunnableConfig] | None = None,
    ) -> None:
        self.router = router
        self.state = state
        self.traced = traced
        self.usage: UsageMetadata | None = None

    def _plan(
        self,
        messages: Sequence[BaseMessage],
        model: str | None,
        only_local: bool,
        call_kwargs: Mapping[str, Any] | None,
    ) -> tuple[RouteRequest, list[Candidate]]:
        state = self.state
        request = RouteRequest(
            messages=list(messages),
            call_kwargs=dict(call_kwargs or {}),
            task=state.task,
            model=model,
            classification=state.classification,
        )
        candidates = select(self.router, request)
        if only_local:
            candidates = request.candidates = local_only(candidates)
        with state.lock:
            state.combiner_requests.append(request)
        return request, candidates

    def _count(self, message: BaseMessage) -> AIMessage:
        if not isinstance(message, AIMessage):
            message = AIMessage(content=message.content)
        self.usage = _add(self.usage, message.usage_metadata)
        return message

    def invoke(
        self,
        messages: Sequence[BaseMessage],
        *,
        model: str | None = None,
        local_only: bool = False,
        call_kwargs: dict[str, Any] | None = None,
    ) -> AIMessage:
        request, candidates = self._plan(messages, model, local_only, call_kwargs)
        if self.traced is None:
            return self._count(failover(self.router, request, candidates))
        chains, config = self.traced
        return self._count(chains.chain(candidates).invoke(request, config))

    async def ainvoke(
        self,
        messages: Sequence[BaseMessage],
        *,
        model: str | None = None,
        local_only: bool = False,
        call_kwargs: dict[str, Any] | None = None,
    ) -> AIMessage:
        request, candidates = self._plan(messages, model, local_only, call_kwargs)
        if self.traced is None:
            return self._count(await afailover(self.router, request, candidates))
        chains, config = self.traced
        return self._count(await chains.chain(candidates).ainvoke(request, config))

    def stream(
        self,
        messages: Sequence[BaseMessage],
        *,
        model: str | None = None,
        local_only: bool = False,
        call_kwargs: dict[str, Any] | None = None,
    ) -> Iterator[AIMessageChunk]:
        request, candidates = self._plan(messages, model, local_only, call_kwargs)
        if self.traced is None:
            chunks = failover_stream(self.router, request, candidates)
        else:
            chains, config = self.traced
            chunks = chains.chain(candidates).stream(request, config)
        for chunk in chunks:
            self._answering(request)
            yield _as_chunk(chunk)

    async def astream(
        self,
        messages: Sequence[BaseMessage],
        *,
        model: str | None = None,
        local_only: bool = False,
        call_kwargs: dict[str, Any] | None = None,
    ) -> AsyncIterator[AIMessageChunk]:
        request, candidates = self._plan(messages, model, local_only, call_kwargs)
        if self.traced is None:
            chunks = afailover_stream(self.router, request, candidates)
        else:
            chains, config = self.traced
            chunks = chains.chain(candidates).astream(request, config)
        async for chunk in chunks:
            self._answering(request)
            yield _as_chunk(chunk)

    def _answering(self, request: RouteRequest) -> None:
        """A merging model's stream is the fan-out's answer: once it streams, the fan-out
        is streaming from it (a server's headers leave with the first chunk, long before
        the combine settles who answered)."""
        merger = request.streaming
        if merger is not None and self.state.streaming is None:
            sent = request.marks.get("sent", time.perf_counter())
            self.state.streaming_from(merger, request.rate_limit_headers, sent)


def _as_chunk(message: BaseMessage) -> AIMessageChunk:
    if isinstance(message, AIMessageChunk):
        return message
    return AIMessageChunk(content=message.content)


def combine_job(
    state: FanoutRequest, answers: Sequence[MemberAnswer], calls: CombinerCalls
) -> CombineJob:
    """The combiner's input: the members that answered, best-ranked first; raises
    `NoProviderAvailable` when fewer than `min_answers` did."""
    results = sorted(answers, key=lambda a: a.rank)
    ok = [a for a in results if a.ok]
    state.combiner_info = {
        "name": state.combiner,
        "members": len(state.members),
        "answers": len(ok),
        "provider": None,
        "model": None,
        "reason": "",
    }
    if len(ok) < state.min_answers:
        raise _too_few(state, len(ok))
    kwargs = {k: state.call_kwargs[k] for k in _MERGE_KWARGS if k in state.call_kwargs}
    return CombineJob(
        messages=list(state.messages),
        answers=ok,
        calls=calls,
        judge=state.judge,
        call_kwargs=kwargs,
        info=state.combiner_info,
    )


def _too_few(state: FanoutRequest, answered: int) -> NoProviderAvailable:
    total = len(state.members)
    if answered == 0:
        message = f"no member of the fan-out answered ({total} asked)"
    else:
        message = (
            f"only {answered} of {total} fan-out members answered; "
            f"min_answers is {state.min_answers}"
        )
    return NoProviderAvailable(
        message, attempts=state.all_attempts(), hints=list(dict.fromkeys(state.hints))
    )


def settle(state: FanoutRequest, job: CombineJob, calls: CombinerCalls) -> UsageMetadata | None:
    """Record who answered; return the usage of every member and of the combiner's calls."""
    merger = next((r.winner for r in reversed(state.combiner_requests) if r.winner), None)
    if merger is not None:
        job.info["provider"], job.info["model"] = merger.provider.name, merger.model.id
    if job.chosen is not None:
        state.winner = job.chosen.candidate
    elif merger is not None and state.combiner != "best":
        state.winner = merger
    else:
        state.winner = job.answers[0].candidate
    usage: UsageMetadata | None = None
    for answer in job.answers:
        if answer.message is not None:
            usage = _add(usage, answer.message.usage_metadata)
    return _add(usage, calls.usage)


def _not_combined(state: FanoutRequest, job: CombineJob, exc: NoProviderAvailable) -> Exception:
    """The combiner's own model call found no model: the error says the members answered
    and lists their attempts too, not only the combiner's."""
    count = len(job.answers)
    return NoProviderAvailable(
        f"{count} fan-out member{'s' if count != 1 else ''} answered, but combiner "
        f"{state.combiner!r} found no model to combine them: {str(exc).splitlines()[0]}",
        attempts=state.all_attempts(),
        hints=list(dict.fromkeys([*state.hints, *exc.hints])),
    )


def combine(
    state: FanoutRequest, answers: Sequence[MemberAnswer], calls: CombinerCalls
) -> AIMessage:
    job = combine_job(state, answers, calls)
    try:
        message = get_combiner(state.combiner).combine(job)
    except NoProviderAvailable as exc:
        raise _not_combined(state, job, exc) from exc
    return message.model_copy(update={"usage_metadata": settle(state, job, calls), "id": None})


async def acombine(
    state: FanoutRequest, answers: Sequence[MemberAnswer], calls: CombinerCalls
) -> AIMessage:
    job = combine_job(state, answers, calls)
    try:
        message = await get_combiner(state.combiner).acombine(job)
    except NoProviderAvailable as exc:
        raise _not_combined(state, job, exc) from exc
    return message.model_copy(update={"usage_metadata": settle(state, job, calls), "id": None})


def stream_combine(
    state: FanoutRequest, answers: Sequence[MemberAnswer], calls: CombinerCalls
) -> Iterator[BaseMessage]:
    job = combine_job(state, answers, calls)
    try:
        for chunk in get_combiner(state.combiner).stream(job):
            yield chunk.model_copy(update={"id": None})
    except NoProviderAvailable as exc:
        raise _not_combined(state, job, exc) from exc
    usage = settle(state, job, calls)
    if usage:
        yield AIMessageChunk(content="", usage_metadata=usage)


async def astream_combine(
    state: FanoutRequest, answers: Sequence[MemberAnswer], calls: CombinerCalls
) -> AsyncIterator[BaseMessage]:
    job = combine_job(state, answers, calls)
    try:
        async for chunk in get_combiner(state.combiner).astream(job):
            yield chunk.model_copy(update={"id": None})
    except NoProviderAvailable as exc:
        raise _not_combined(state, job, exc) from exc
    usage = settle(state, job, calls)
    if usage:
        yield AIMessageChunk(content="", usage_metadata=usage)
