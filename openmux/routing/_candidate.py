"""One candidate as a Runnable: call a (provider, model), record the attempt, map failures.

A failure raises `ProviderFailure`, which the surrounding `with_fallbacks`
catches to try the next candidate. When streaming, nothing reaches the caller
until the first chunk with content, so failover stays possible until then;
after it, a failure is `StreamInterrupted` (never two answers spliced).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tracers._streaming import _StreamingCallbackHandler
from langchain_core.tracers.base import BaseTracer

from openmux.errors import StreamInterrupted
from openmux.privacy import scrub_for_provider
from openmux.providers import ProviderFailure, failure_from_exception
from openmux.routing._quiet import QUIET, agenerate_unobserved, generate_unobserved, plain_generate
from openmux.routing._request import Candidate, RouteRequest, request_exhausted

if TYPE_CHECKING:
    from openmux.routing import Router

_ALNUM9 = re.compile(r"^[A-Za-z0-9]{9}$")


def _alnum9(tool_call_id: str) -> str:
    if _ALNUM9.match(tool_call_id):
        return tool_call_id
    digest = hashlib.sha256(tool_call_id.encode()).hexdigest()
    return digest[:9]


def _rewrite_tool_call_ids(messages: list[BaseMessage], style: str) -> list[BaseMessage]:
    """Mistral accepts only 9-alphanumeric tool call ids; others take any string."""
    if style != "alnum9":
        return messages
    rewritten: list[BaseMessage] = []
    for message in messages:
        if isinstance(message, AIMessage) and message.tool_calls:
            calls = [{**call, "id": _alnum9(call["id"] or "")} for call in message.tool_calls]
            message = message.model_copy(update={"tool_calls": calls, "additional_kwargs": {}})
        elif isinstance(message, ToolMessage):
            message = message.model_copy(update={"tool_call_id": _alnum9(message.tool_call_id)})
        rewritten.append(message)
    return rewritten


# Call options a protocol does not take (the others pass through to the adapter).
_DROPPED_KWARGS = {"ollama": frozenset({"tool_choice", "parallel_tool_calls"})}
# Call options a protocol takes inside one dict, under its own names. langchain-ollama
# passes unknown keyword arguments to `Client.chat` (a TypeError for `temperature` or
# `max_tokens`), and ignores `stop` once `options` is given, so stop moves in as well.
_NESTED_KWARGS = {
    "ollama": (
        "options",
        {
            "temperature": "temperature",
            "max_tokens": "num_predict",
            "top_p": "top_p",
            "seed": "seed",
            "stop": "stop",
        },
    )
}


def _call_kwargs(protocol: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The request's call options in the form this protocol's adapter takes."""
    dropped = _DROPPED_KWARGS.get(protocol, frozenset())
    out = {k: v for k, v in kwargs.items() if k not in dropped}
    nested = _NESTED_KWARGS.get(protocol)
    if nested is not None:
        key, names = nested
        inner = {names[k]: out.pop(k) for k in list(out) if k in names and out[k] is not None}
        if inner:
            out[key] = {**out.get(key, {}), **inner}
    return out


def _has_answer(message: BaseMessage) -> bool:
    if isinstance(message, AIMessage) and (message.tool_calls or message.invalid_tool_calls):
        return True
    return bool(message.content)


def _chunk_has_answer(chunk: BaseMessage) -> bool:
    if isinstance(chunk, AIMessageChunk) and chunk.tool_call_chunks:
        return True
    return bool(chunk.content)


class CandidateRunnable(Runnable[RouteRequest, BaseMessage]):
    """Calls one candidate. Stateless across requests: all state is in the RouteRequest."""

    def __init__(self, candidate: Candidate, router: Router) -> None:
        self.candidate = candidate
        self.router = router
        self.name = f"{candidate.provider.name}:{candidate.model.id}"

    def warm(self, *, aio: bool) -> None:
        """Build the provider's client ahead of the call, so a hedge timer measures the
        provider, not our imports. Errors surface again, recorded, in `_prepare`."""
        with contextlib.suppress(Exception):
            self.router.pool.chat(self.candidate.provider, self.candidate.model.id, aio=aio)

    # -- before, after ----------------------------------------------------------------------

    def _prepare(
        self, request: RouteRequest, *, aio: bool
    ) -> tuple[Any, list[BaseMessage], dict[str, Any]]:
        """Everything that may rule this candidate out without sending a byte."""
        candidate = self.candidate
        provider = candidate.provider
        if request.out_of_budget:
            raise request_exhausted(request)
        if provider.name in request.failed_providers:
            raise ProviderFailure("connection", f"{provider.name} already failed in this request")
        if candidate.model.context_length < request.min_context:
            raise ProviderFailure("context_length", f"{self.name} has too small a context")
        disabled = self.router.policy.disabled.get(provider.name)
        if disabled is not None:
            why, hint = disabled
            request.record(candidate, "auth", error=f"disabled for this process: {why}")
            request.hints.append(hint)
            raise ProviderFailure("auth", why)
        # free_only is enforced here, at the last step before sending.
        if self.router.settings.free_only and not provider.is_free(candidate.model.id):
            request.record(candidate, "not_free", error="paid model; free_only is on")
            raise ProviderFailure("not_free", f"{self.name} is not free")
        bench = self.router.health.bench_of(provider.name, candidate.model.id)
        if bench is not None:
            request.benched.append(bench)
            seconds = max(0.0, bench.until - time.time())
            request.record(
                candidate,
                "circuit_open",
                error=f"benched {seconds:.1f} s more after {bench.reason}",
            )
            raise ProviderFailure("circuit_open", f"{self.name} is benched")
        try:
            model = self.router.pool.chat(provider, candidate.model.id, aio=aio)
        except Exception as exc:  # an adapter that cannot be built (missing extra, bad URL)
            failure = failure_from_exception(exc)
            request.record(candidate, failure.kind, error=str(failure))
            raise failure from exc
        messages = _rewrite_tool_call_ids(request.messages, provider.tool_call_id_style)
        messages = scrub_for_provider(self.router.settings.privacy, provider, messages)
        return model, messages, _call_kwargs(provider.protocol, request.call_kwargs)

    def _fail(self, request: RouteRequest, exc: BaseException, started: float) -> ProviderFailure:
        failure = failure_from_exception(exc)
        if not request.finished:  # a hedge lost the race: its outcome no longer matters
            request.record(
                self.candidate, failure.kind, error=str(failure), latency_ms=_ms_since(started)
            )
        self.router.policy.after_failure(self.candidate, failure, request)
        return failure

    def _retry(self, request: RouteRequest, failure: ProviderFailure, tries: int) -> bool:
        return (
            tries == 1
            and not request.out_of_budget
            and self.router.policy.worth_retrying(self.candidate, failure)
        )

    def _succeed(self, request: RouteRequest, started: float, first_token: float) -> None:
        if not request.finished:
            request.record(self.candidate, "ok", latency_ms=_ms_since(started))
            request.winner = self.candidate
        self.router.health.record_success(
            *self.candidate.key, first_token_ms=_ms_since(first_token)
        )

    def _interrupted(
        self, request: RouteRequest, exc: BaseException, started: float, partial: str
    ) -> StreamInterrupted:
        failure = failure_from_exception(exc)
        request.record(
            self.candidate, "stream_interrupted", error=str(failure), latency_ms=_ms_since(started)
        )
        self.router.health.record_failure(*self.candidate.key, reason="stream_interrupted")
        return StreamInterrupted(
            f"{self.name} failed mid-stream ({failure.kind}: {failure})",
            partial_text=partial,
            attempts=request.attempts,
        )

    # -- the provider call ----------------------------------------------------------------
    # Each candidate is a chain run named "provider:model". Tracers also see the provider's
    # own chat-model run inside it; other handlers and event streams see one chat-model run
    # (ChatOpenMux's), so tokens are not reported twice.

    def invoke(
        self, input: RouteRequest, config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage:
        if config is QUIET:
            return self._invoke(input)
        return self._call_with_config(self._invoke, input, config, run_type="chain")

    async def ainvoke(
        self, input: RouteRequest, config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage:
        if config is QUIET:
            return await self._ainvoke(input)
        return await self._acall_with_config(self._ainvoke, input, config, run_type="chain")

    def stream(
        self, input: RouteRequest, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[BaseMessage]:
        if config is QUIET:
            yield from self._stream(iter([input]))
            return
        yield from self._transform_stream_with_config(iter([input]), self._stream, config)

    async def astream(
        self, input: RouteRequest, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[BaseMessage]:
        async def one() -> AsyncIterator[RouteRequest]:
            yield input

        chunks = (
            self._astream(one())
            if config is QUIET
            else self._atransform_stream_with_config(one(), self._astream, config)
        )
        async for chunk in chunks:
            yield chunk

    def _invoke(
        self, request: RouteRequest, run_manager: CallbackManagerForChainRun | None = None
    ) -> BaseMessage:
        model, messages, call_kwargs = self._prepare(request, aio=False)
        for tries in (1, 2):
            started = time.perf_counter()
            try:
                if run_manager is None and plain_generate(model, call_kwargs):
                    message = generate_unobserved(model, messages, call_kwargs)
                else:
                    message = model.invoke(messages, _tracers_only(run_manager), **call_kwargs)
                if not _has_answer(message):
                    raise ProviderFailure("bad_response", "the answer was empty")
            except Exception as exc:
                failure = self._fail(request, exc, started)
                if self._retry(request, failure, tries):
                    time.sleep(self.router.policy.retry_delay())
                    continue
                raise failure from exc
            self._succeed(request, started, started)
            return message
        raise AssertionError("unreachable")

    async def _ainvoke(
        self, request: RouteRequest, run_manager: AsyncCallbackManagerForChainRun | None = None
    ) -> BaseMessage:
        model, messages, call_kwargs = self._prepare(request, aio=True)
        for tries in (1, 2):
            started = time.perf_counter()
            try:
                if run_manager is None and plain_generate(model, call_kwargs):
                    message = await agenerate_unobserved(model, messages, call_kwargs)
                else:
                    message = await model.ainvoke(
                        messages, _tracers_only(run_manager), **call_kwargs
                    )
                if not _has_answer(message):
                    raise ProviderFailure("bad_response", "the answer was empty")
            except Exception as exc:
                failure = self._fail(request, exc, started)
                if self._retry(request, failure, tries):
                    await asyncio.sleep(self.router.policy.retry_delay())
                    continue
                raise failure from exc
            self._succeed(request, started, started)
            return message
        raise AssertionError("unreachable")

    def _stream(
        self,
        requests: Iterator[RouteRequest],
        run_manager: CallbackManagerForChainRun | None = None,
    ) -> Iterator[BaseMessage]:
        request = next(requests)
        model, messages, call_kwargs = self._prepare(request, aio=False)
        for tries in (1, 2):
            started = time.perf_counter()
            held: list[BaseMessage] = []
            chunks = model.stream(messages, _tracers_only(run_manager), **call_kwargs)
            try:
                for chunk in chunks:
                    held.append(chunk)
                    if _chunk_has_answer(chunk):
                        break
                else:
                    raise ProviderFailure("bad_response", "the stream ended without an answer")
            except Exception as exc:
                _close(chunks)
                failure = self._fail(request, exc, started)
                if self._retry(request, failure, tries):
                    time.sleep(self.router.policy.retry_delay())
                    continue
                raise failure from exc
            break
        first_token = time.perf_counter()
        yield from held
        partial = "".join(c.text for c in held)
        try:
            for chunk in chunks:
                partial += chunk.text
                yield chunk
        except Exception as exc:
            raise self._interrupted(request, exc, started, partial) from exc
        self._succeed(request, started, first_token)

    async def _astream(
        self,
        requests: AsyncIterator[RouteRequest],
        run_manager: AsyncCallbackManagerForChainRun | None = None,
    ) -> AsyncIterator[BaseMessage]:
        request = await anext(requests)
        model, messages, call_kwargs = self._prepare(request, aio=True)
        for tries in (1, 2):
            started = time.perf_counter()
            held: list[BaseMessage] = []
            chunks = model.astream(messages, _tracers_only(run_manager), **call_kwargs)
            try:
                async for chunk in chunks:
                    held.append(chunk)
                    if _chunk_has_answer(chunk):
                        break
                else:
                    raise ProviderFailure("bad_response", "the stream ended without an answer")
            except Exception as exc:
                await chunks.aclose()
                failure = self._fail(request, exc, started)
                if self._retry(request, failure, tries):
                    await asyncio.sleep(self.router.policy.retry_delay())
                    continue
                raise failure from exc
            break
        first_token = time.perf_counter()
        for chunk in held:
            yield chunk
        partial = "".join(c.text for c in held)
        try:
            async for chunk in chunks:
                partial += chunk.text
                yield chunk
        except Exception as exc:
            raise self._interrupted(request, exc, started, partial) from exc
        self._succeed(request, started, first_token)


def _tracers_only(
    run_manager: CallbackManagerForChainRun | AsyncCallbackManagerForChainRun | None,
) -> RunnableConfig:
    if run_manager is None:
        # Quiet: an explicit empty list, or the inner model would pick up the
        # callbacks of whatever Runnable surrounds ChatOpenMux from the context.
        return {"callbacks": []}
    child = run_manager.get_child()
    child.handlers = [h for h in child.handlers if _is_tracer(h)]
    child.inheritable_handlers = [h for h in child.inheritable_handlers if _is_tracer(h)]
    return {"callbacks": child}


def _is_tracer(handler: Any) -> bool:
    return isinstance(handler, BaseTracer) and not isinstance(handler, _StreamingCallbackHandler)


def _close(iterator: Iterator[Any]) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
