"""Fan-out members: each one's failover over its own candidates and spare models.

A member never raises for a provider failure: it returns a `MemberAnswer` saying how
it ended (answered, failed with a kind, or outlasted `member_timeout`).

`call` is how one candidate is called: the call stage directly (runs nobody
observes) or the candidate's traced Runnable.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from openmux.combiners import MemberAnswer
from openmux.errors import NoProviderAvailable
from openmux.providers import ProviderFailure, failure_from_exception
from openmux.routing._fanout import FanoutRequest, Member
from openmux.routing._request import Candidate, RouteRequest, request_exhausted

Call = Callable[[Candidate, RouteRequest], BaseMessage]
AsyncCall = Callable[[Candidate, RouteRequest], Awaitable[BaseMessage]]


class _MemberTimeout(Exception):
    pass


def _claimed_by_another(state: FanoutRequest, member: Member, candidate: Candidate) -> bool:
    """A spare model is tried only if no other member has claimed it first."""
    with state.lock:
        owner = state.claims.setdefault(candidate.model.id, member.rank)
    return owner != member.rank


def _member_failover(state: FanoutRequest, member: Member, call: Call) -> BaseMessage:
    spares_from = len(member.order) - member.spares
    for index, candidate in enumerate(member.order):
        if index >= spares_from and _claimed_by_another(state, member, candidate):
            continue
        try:
            return call(candidate, member.request)
        except ProviderFailure:
            continue
    raise request_exhausted(member.request)


async def _amember_failover(state: FanoutRequest, member: Member, call: AsyncCall) -> BaseMessage:
    spares_from = len(member.order) - member.spares
    for index, candidate in enumerate(member.order):
        if index >= spares_from and _claimed_by_another(state, member, candidate):
            continue
        try:
            return await call(candidate, member.request)
        except ProviderFailure:
            continue
    raise request_exhausted(member.request)


def run_member(state: FanoutRequest, index: int, call: Call) -> MemberAnswer:
    member = state.members[index]
    started = member.start()
    timeout = state.member_timeout
    try:
        if timeout is None:
            message = _member_failover(state, member, call)
        else:
            message = _with_timeout(lambda: _member_failover(state, member, call), timeout)
    except Exception as exc:
        return _failed(state, member, exc, started)
    return _answered(member, message, started)


async def arun_member(state: FanoutRequest, index: int, call: AsyncCall) -> MemberAnswer:
    member = state.members[index]
    started = member.start()
    run = _amember_failover(state, member, call)
    try:
        if state.member_timeout is None:
            message = await run
        else:
            try:
                message = await asyncio.wait_for(run, state.member_timeout)
            except asyncio.TimeoutError:
                raise _MemberTimeout from None
    except Exception as exc:
        return _failed(state, member, exc, started)
    return _answered(member, message, started)


def _with_timeout(run: Callable[[], BaseMessage], timeout: float) -> BaseMessage:
    # A daemon thread: a provider call that outlasts the timeout must not hold up the
    # answer (nor the interpreter's exit); it ends when the client's own timeout fires.
    box: dict[str, Any] = {}
    done = threading.Event()
    context = contextvars.copy_context()

    def target() -> None:
        try:
            box["message"] = context.run(run)
        except BaseException as exc:
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="openmux-member", daemon=True).start()
    if not done.wait(timeout):
        raise _MemberTimeout
    if "error" in box:
        raise box["error"]
    message: BaseMessage = box["message"]
    return message


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _answered(member: Member, message: BaseMessage, started: float) -> MemberAnswer:
    if not isinstance(message, AIMessage):
        message = AIMessage(content=message.content)
    winner = member.request.winner
    member.final_attempts = member.request.attempt_dicts()
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
    request = member.request
    latency = _ms_since(started)
    if isinstance(exc, _MemberTimeout):
        tried = {(a.provider, a.model) for a in request.attempts}
        current = next((c for c in member.order if c.key not in tried), None)
        current = current or (member.order[0] if member.order else None)
        error = f"no answer within member_timeout ({state.member_timeout:g} s)"
        if current is not None:
            request.record(current, "timeout", error=error, latency_ms=latency)
        status = "timeout"
    elif request.attempts:
        # The member's own model decides its status; a spare's failure only if it has none.
        own = [a for a in request.attempts if a.model == member.model] or request.attempts
        status = own[-1].status
    elif isinstance(exc, NoProviderAvailable):
        status = "connection"  # no candidate could even be tried (no key, no server)
    else:
        status = failure_from_exception(exc).kind
    if isinstance(exc, NoProviderAvailable):
        with state.lock:
            state.hints.extend(exc.hints)
    member.final_attempts = request.attempt_dicts()
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
