"""Stage 3, call one candidate: rule it out without sending, or call it and record the attempt.

A failure raises `ProviderFailure` (after the react stage has applied it), which the
failover stage catches to try the next candidate. When streaming, nothing reaches the
caller until the first chunk with content, so failover stays possible until then;
after it, a failure is `StreamInterrupted` (two answers are never spliced).

`config` is the inner provider call's RunnableConfig: the caller's tracers when the run
is observed (see `_traced.inner_config`), else none.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig

from openmux._logging import get_logger
from openmux.errors import InvalidRequest, NoProviderAvailable, StreamInterrupted
from openmux.privacy import scrub_for_provider
from openmux.providers import (
    MEDIA_OPTIONS,
    ProviderFailure,
    QuietAnswers,
    Sends,
    adapt_openai_body,
    adapt_request,
    answering_until,
    failure_from_exception,
    watching_done,
    watching_headers,
    watching_rate_limits,
    watching_sends,
)
from openmux.routing._answers import StreamEnd, check_answer, chunk_has_answer, finish_mark_of
from openmux.routing._callee import body_as_it_came, model_for
from openmux.routing._gate import rule_out
from openmux.routing._react import react
from openmux.routing._request import Candidate, RouteRequest
from openmux.routing._retry import retry_planned, retry_wait, still_retry
from openmux.routing._select import estimate_tokens, request_task

if TYPE_CHECKING:
    from collections.abc import Mapping

    from openmux.quotas import Spent
    from openmux.routing._context import Router

T = TypeVar("T")
_log = get_logger("openmux.routing")

# No handler at all: an explicit empty list, or the inner model would pick up the
# callbacks of whatever Runnable surrounds ChatOpenMux from the context.
UNOBSERVED: RunnableConfig = {"callbacks": []}


# -- before and after the call ------------------------------------------------------------


_QUIET_CLASSES: dict[type, bool] = {}


def _answers_quietly(model: object) -> bool:
    # A Protocol isinstance check walks every member each time: once per class is enough.
    quiet = _QUIET_CLASSES.get(type(model))
    if quiet is None:
        quiet = _QUIET_CLASSES[type(model)] = isinstance(model, QuietAnswers)
    return quiet


def _built(
    router: Router, candidate: Candidate, request: RouteRequest, build: Callable[[], T]
) -> T:
    try:
        return build()
    except Exception as exc:  # an adapter that cannot be built (missing extra, bad URL)
        failure = failure_from_exception(exc)
        request.record(candidate, failure.kind, error=str(failure))
        raise failure from exc


def _chat_model(
    router: Router, candidate: Candidate, request: RouteRequest, *, aio: bool
) -> tuple[Any, list[BaseMessage], dict[str, Any]]:
    """The model to call (or the OpenAI body bound to its endpoint), messages, options."""
    rule_out(router, candidate, request)
    provider = candidate.provider
    as_it_came = body_as_it_came(router, candidate, request, aio)
    if as_it_came is not None:
        endpoint = _built(router, candidate, request, lambda: router.pool.openai_endpoint(provider))
        if endpoint is not None:
            body = adapt_openai_body(provider, candidate.model.id, as_it_came)
            return endpoint.bound(body), request.messages, {}
    model = _built(router, candidate, request, lambda: model_for(router, candidate, request, aio))
    messages = scrub_for_provider(router.settings.privacy, provider, request.messages)
    call_kwargs = request.call_kwargs
    if request.output == "text":
        # Options for a media answer (a voice, a size), given before classification said
        # the answer is text: a chat model's client refuses them as unknown arguments.
        call_kwargs = {k: v for k, v in call_kwargs.items() if k not in MEDIA_OPTIONS}
    messages, call_kwargs = adapt_request(provider, messages, call_kwargs)
    return model, messages, call_kwargs


def _account(
    router: Router,
    candidate: Candidate,
    request: RouteRequest,
    status: str,
    started: float,
    *,
    usage: Any = None,
    seen: Mapping[str, str] | None = None,
    failure: ProviderFailure | None = None,
    later: bool = False,
) -> Spent | None:
    """Record the attempt's usage and learn the provider's limits from its answer;
    `later`: once the answer is delivered, when the request holds its bookkeeping back
    (a success's: a failure's is needed at once, to react to it)."""
    usage = usage or {}
    counts: dict[str, Any] = {
        "task": request_task(request),
        "status": status,
        "latency_ms": _ms_since(started),
        "tokens_in": int(usage.get("input_tokens") or 0),
        "tokens_out": int(usage.get("output_tokens") or 0),
        "counted_tokens": estimate_tokens(request),
        "headers": seen,
        "failure": failure,
    }
    if later:
        request.settle(router.quotas.after_call, candidate.provider, candidate.model.id, **counts)
        return None
    return router.quotas.after_call(candidate.provider, candidate.model.id, **counts)


def _fail(
    router: Router,
    candidate: Candidate,
    request: RouteRequest,
    exc: BaseException,
    started: float,
    seen: Mapping[str, str] | None = None,
    sends: Sends | None = None,
) -> ProviderFailure:
    """Record and react to a provider's failure. The caller's or this machine's own error
    (a bad argument, text that cannot be encoded, no file descriptors left) is raised at
    once instead: no other candidate would fare better, and no provider is to blame."""
    failure = failure_from_exception(exc)
    if failure.kind == "local":
        if isinstance(exc, (TypeError, ValueError)):
            raise exc
        error = InvalidRequest if isinstance(exc, InvalidRequest) else NoProviderAvailable
        raise error(str(failure), attempts=request.attempt_dicts()) from exc
    unsent = _unsent(exc, candidate, sends)
    if unsent:
        failure = ProviderFailure("http_4xx", f"not sent: {type(exc).__name__}: {exc}")
    if not request.finished:  # a hedge lost the race: its outcome no longer matters
        request.record(candidate, failure.kind, error=str(failure), latency_ms=_ms_since(started))
    if unsent or (
        failure.kind == "timeout"
        and ((sends is not None and sends.never_sent) or request.seconds_left <= 0)
    ):
        # The provider saw nothing of it, or it never left this process's own pool (our
        # saturation), or the request's total time ran out while its answer arrived (late
        # from our queue as likely as from them): no bench.
        return failure
    spent = _account(router, candidate, request, failure.kind, started, seen=seen, failure=failure)
    react(router, candidate, request, failure, spent)
    _log.info(
        "attempt failed: %s:%s %s (wait %s)",
        *candidate.key,
        failure.kind,
        "-" if failure.retry_after is None else f"{failure.retry_after:.1f} s",
    )
    return failure


def _unsent(exc: BaseException, candidate: Candidate, sends: Sends | None) -> bool:
    """Whether a client with no form for the conversation (ChatOllama and a FunctionMessage)
    raised before asking for a connection; an in-process model asks for none at all."""
    unsent = sends is not None and sends.asked == 0 and not candidate.provider.in_process
    return unsent and isinstance(exc, (TypeError, ValueError))


class _Watching:
    """What the provider's responses tell: when their headers arrive (if the request is
    profiled), their rate-limit headers, and when the request left this process; and,
    for an answer awaited whole, the request's deadline, which ends it if still arriving
    past it. A class for the reason `Watch` is one (it runs around every provider call)."""

    __slots__ = ("_due", "_headers", "_rate_limits", "_sends")

    def __init__(self, request: RouteRequest, *, whole: bool = True) -> None:
        self._headers: AbstractContextManager[list[float]] = (
            watching_headers() if request.profile else nullcontext([])
        )
        self._rate_limits = watching_rate_limits()
        self._sends = watching_sends()
        # A caller waiting for a whole answer sees nothing of it arriving: past the total
        # time it is a hang. A stream's reader sees it arrive (a slow local server may
        # take minutes over a long one) and stops reading when it will.
        left = request.seconds_left if whole else math.inf
        self._due: AbstractContextManager[Any] = (
            answering_until(time.monotonic() + left) if left < math.inf else nullcontext()
        )

    def __enter__(self) -> tuple[list[float], dict[str, str], Sends]:
        self._due.__enter__()
        return (
            self._headers.__enter__(),
            self._rate_limits.__enter__(),
            self._sends.__enter__(),
        )

    def __exit__(self, *exc: Any) -> None:
        self._sends.__exit__(*exc)
        self._rate_limits.__exit__(*exc)
        self._headers.__exit__(*exc)
        self._due.__exit__(*exc)


def _succeed(
    router: Router,
    candidate: Candidate,
    request: RouteRequest,
    started: float,
    first: float,
    headers: list[float] | None = None,
    *,
    streamed: bool = False,
    usage: Any = None,
    seen: Mapping[str, str] | None = None,
    units: dict[str, float] | None = None,
) -> None:
    # A day's allowance the answer used up is counted as spent: select skips it till reset.
    _account(router, candidate, request, "ok", started, usage=usage, seen=seen, later=True)
    # A stream that reached its end was the one the caller read, whatever a race decided.
    if streamed or not request.finished:
        request.record(candidate, "ok", latency_ms=_ms_since(started), units=units)
        request.winner = candidate
        request.rate_limit_headers = dict(seen or {})
        if request.profile:
            request.marks["sent"] = started
            if headers:
                request.marks["headers"] = headers[0]
            if streamed:
                request.marks["first_token"] = first
    request.settle(router.health.record_success, *candidate.key, first_token_ms=_ms_since(first))


def _interrupted(
    router: Router,
    candidate: Candidate,
    request: RouteRequest,
    exc: BaseException,
    started: float,
    partial: str,
) -> StreamInterrupted:
    failure = failure_from_exception(exc)
    request.record(
        candidate, "stream_interrupted", error=str(failure), latency_ms=_ms_since(started)
    )
    _account(router, candidate, request, "stream_interrupted", started)
    router.health.record_failure(*candidate.key, reason="stream_interrupted")
    name = f"{candidate.provider.name}:{candidate.model.id}"
    return StreamInterrupted(
        f"{name} failed mid-stream ({failure.kind}: {failure})",
        partial_text=partial,
        attempts=request.attempt_dicts(),
    )


def _answer(message: BaseMessage, seen: Mapping[str, str]) -> dict[str, Any]:
    """What `_succeed` records of an answer: its token usage, the rate-limit headers and
    what a media model's answer used (see `openmux.providers.MediaAnswers`)."""
    units = message.response_metadata.get("media_units")
    return {
        "usage": getattr(message, "usage_metadata", None),
        "seen": seen,
        "units": dict(units) if isinstance(units, dict) else None,
    }


def _stopped(router: Router, candidate: Candidate, request: RouteRequest, started: float) -> None:
    """The caller stopped reading mid-stream (closed the stream, or its task was cancelled:
    a server's client left). The provider was asked all the same, so the attempt counts;
    it is no fault of the provider's, so its health is left alone."""
    stopped = "the caller stopped reading"
    request.record(candidate, "cancelled", error=stopped, latency_ms=_ms_since(started))
    _account(router, candidate, request, "cancelled", started)


def _close(iterator: Iterator[Any]) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


async def _aclose(iterator: AsyncIterator[Any]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


# -- the call, in its four forms --------------------------------------------------------------


def invoke_candidate(
    router: Router,
    candidate: Candidate,
    request: RouteRequest,
    config: RunnableConfig = UNOBSERVED,
) -> BaseMessage:
    model, messages, call_kwargs = _chat_model(router, candidate, request, aio=False)
    mark = finish_mark_of(model)
    for tries in (1, 2):
        started = time.perf_counter()
        try:
            with _Watching(request) as (arrived, seen, sends):
                if config is UNOBSERVED and _answers_quietly(model):
                    message = model.respond(messages, **call_kwargs)
                else:
                    message = model.invoke(messages, config, **call_kwargs)
            check_answer(message, mark)
        except Exception as exc:
            failure = _fail(router, candidate, request, exc, started, seen, sends)
            if tries == 1 and retry_planned(router, candidate, request, failure):
                time.sleep(retry_wait(router, request, failure))
                if still_retry(router, candidate, request, failure):
                    continue
            raise failure from exc
        _succeed(router, candidate, request, started, started, arrived, **_answer(message, seen))
        return message
    raise AssertionError("unreachable")


async def ainvoke_candidate(
    router: Router,
    candidate: Candidate,
    request: RouteRequest,
    config: RunnableConfig = UNOBSERVED,
) -> BaseMessage:
    model, messages, call_kwargs = _chat_model(router, candidate, request, aio=True)
    mark = finish_mark_of(model)
    for tries in (1, 2):
        started = time.perf_counter()
        try:
            with _Watching(request) as (arrived, seen, sends):
                if config is UNOBSERVED and _answers_quietly(model):
                    message = await model.arespond(messages, **call_kwargs)
                else:
                    message = await model.ainvoke(messages, config, **call_kwargs)
            check_answer(message, mark)
        except Exception as exc:
            failure = _fail(router, candidate, request, exc, started, seen, sends)
            if tries == 1 and retry_planned(router, candidate, request, failure):
                await asyncio.sleep(retry_wait(router, request, failure))
                if still_retry(router, candidate, request, failure):
                    continue
            raise failure from exc
        _succeed(router, candidate, request, started, started, arrived, **_answer(message, seen))
        return message
    raise AssertionError("unreachable")


def stream_candidate(
    router: Router,
    candidate: Candidate,
    request: RouteRequest,
    config: RunnableConfig = UNOBSERVED,
) -> Iterator[BaseMessage]:
    model, messages, call_kwargs = _chat_model(router, candidate, request, aio=False)
    mark = finish_mark_of(model)
    for tries in (1, 2):
        started = time.perf_counter()
        held: list[BaseMessage] = []
        chunks = model.stream(messages, config, **call_kwargs)
        try:
            with (
                _Watching(request, whole=False) as (arrived, seen, sends),
                watching_done() as done,
            ):
                for chunk in chunks:
                    held.append(chunk)
                    if chunk_has_answer(chunk):
                        break
                else:
                    raise ProviderFailure("bad_response", "the stream ended without an answer")
        except Exception as exc:
            _close(chunks)
            failure = _fail(router, candidate, request, exc, started, seen, sends)
            if tries == 1 and retry_planned(router, candidate, request, failure):
                time.sleep(retry_wait(router, request, failure))
                if still_retry(router, candidate, request, failure):
                    continue
            raise failure from exc
        break
    first_token = time.perf_counter()
    request.streaming_from(candidate, seen, started)
    yield from held
    end = StreamEnd(mark, held[-1], done)
    try:
        for early in held:
            end.add(early)
        for chunk in chunks:
            end.add(chunk)
            yield chunk
        end.check()
    except Exception as exc:
        raise _interrupted(router, candidate, request, exc, started, end.partial) from exc
    except BaseException:
        _stopped(router, candidate, request, started)
        _close(chunks)
        raise
    _succeed(
        router,
        candidate,
        request,
        started,
        first_token,
        arrived,
        streamed=True,
        **_answer(end.last, seen),
    )


async def astream_candidate(
    router: Router,
    candidate: Candidate,
    request: RouteRequest,
    config: RunnableConfig = UNOBSERVED,
) -> AsyncIterator[BaseMessage]:
    model, messages, call_kwargs = _chat_model(router, candidate, request, aio=True)
    mark = finish_mark_of(model)
    for tries in (1, 2):
        started = time.perf_counter()
        held: list[BaseMessage] = []
        chunks = model.astream(messages, config, **call_kwargs)
        try:
            with (
                _Watching(request, whole=False) as (arrived, seen, sends),
                watching_done() as done,
            ):
                async for chunk in chunks:
                    held.append(chunk)
                    if chunk_has_answer(chunk):
                        break
                else:
                    raise ProviderFailure("bad_response", "the stream ended without an answer")
        except Exception as exc:
            await _aclose(chunks)
            failure = _fail(router, candidate, request, exc, started, seen, sends)
            if tries == 1 and retry_planned(router, candidate, request, failure):
                await asyncio.sleep(retry_wait(router, request, failure))
                if still_retry(router, candidate, request, failure):
                    continue
            raise failure from exc
        break
    first_token = time.perf_counter()
    request.streaming_from(candidate, seen, started)
    for early in held:
        yield early
    end = StreamEnd(mark, held[-1], done)
    try:
        for early in held:
            end.add(early)
        async for chunk in chunks:
            end.add(chunk)
            yield chunk
        end.check()
    except Exception as exc:
        raise _interrupted(router, candidate, request, exc, started, end.partial) from exc
    except BaseException:
        _stopped(router, candidate, request, started)
        await _aclose(chunks)
        raise
    _succeed(
        router,
        candidate,
        request,
        started,
        first_token,
        arrived,
        streamed=True,
        **_answer(end.last, seen),
    )
