"""What flows through the pipeline: one request and everything learned while routing it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from openmux._logging import get_logger
from openmux.errors import NoProviderAvailable
from openmux.providers import media_forms
from openmux.routing._output import NON_TEXT_OUTPUT

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from langchain_core.messages import BaseMessage

    from openmux.catalog import Resolved
    from openmux.classifier import TaskClassification
    from openmux.config import ModelEntry, ProviderSettings
    from openmux.health import Bench
    from openmux.providers import MediaForm
    from openmux.routing._output import OutputDecision


_log = get_logger("openmux.routing")


@dataclass(frozen=True)
class Candidate:
    """A (provider, model) the router may call, and why it is in the list."""

    provider: ProviderSettings
    model: ModelEntry
    reason: str
    free: bool = field(default=True, compare=False)
    facts: Resolved | None = field(default=None, compare=False)
    """What the catalog knows of the model (chat candidates)."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider.name, self.model.id)


NOT_SENT = frozenset({"circuit_open", "not_free", "over_quota"})
"""Attempt statuses of candidates ruled out before a byte was sent."""


@dataclass(frozen=True)
class Attempt:
    """One try of one candidate: the record users see in `response_metadata["openmux"]`.

    `status` is "ok" or a failure kind (see `openmux.providers.FailureKind`)."""

    provider: str | None
    model: str | None
    status: str
    error: str | None = None
    latency_ms: float = 0.0
    hedged: bool = False
    units: dict[str, float] | None = None
    """What a media answer used (images, audio_seconds, characters): quotas count these."""

    def as_dict(self) -> dict[str, Any]:
        # By hand, not dataclasses.asdict (a deep copy): one per attempt of every answer.
        record: dict[str, Any] = {
            "provider": self.provider,
            "model": self.model,
            "status": self.status,
            "error": self.error,
            "latency_ms": self.latency_ms,
            "hedged": self.hedged,
        }
        if self.units is not None:  # text attempts keep the documented shape
            record["units"] = dict(self.units)
        return record


@dataclass
class RouteRequest:
    messages: list[BaseMessage]
    call_kwargs: dict[str, Any] = field(default_factory=dict)
    task: str | None = None
    model: str | None = None
    provider: str | None = None
    output: str = "text"
    """What the answer is: "text" (chat models), "embeddings" (vectors), or media made by
    the providers' media models: "image", "speech", "transcription"."""
    classification: TaskClassification | None = None
    output_decision: OutputDecision | None = None
    """Text, or the non-text output the request needs (set right after classification)."""
    candidates: list[Candidate] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    cause: str | None = None
    """Set by select when the settings themselves leave no candidate: which one, and why."""
    missing_capability: str | None = None
    """Set by select when models are reachable but none can do what the request needs."""
    failed_providers: set[str] = field(default_factory=set)
    benched: list[Bench] = field(default_factory=list)
    min_context: int = 0
    winner: Candidate | None = None
    streaming: Candidate | None = None
    """The candidate whose stream is being read: its attempt is recorded when it ends."""
    offline: bool = False
    started: float = field(default_factory=time.perf_counter)
    deadline: float = float("inf")
    max_attempts: int = 8
    rounds: int = 0
    round_start: int = 0
    hedged: set[tuple[str, str]] = field(default_factory=set)
    finished: bool = False
    """Set when a hedged race is decided: later answers of the losers are dropped."""
    profile: bool = False
    """Add `timings` (ms per stage) to the metadata."""
    marks: dict[str, float] = field(default_factory=dict)
    """perf_counter times: classified, selected; sent, headers, first_token of the answer."""
    cache_scope: dict[str, Any] | None = None
    """What of the caller can change the answer (ChatOpenMux's cache key parameters);
    None: the response cache neither answers nor keeps this request (see `_cached`)."""
    cached_from: dict[str, Any] | None = None
    """Set on a cache hit: the routing metadata of the answer it replays."""
    cache_read: bool = True
    """False: the response cache does not answer this request but still keeps its answer
    (a client's `Cache-Control: no-cache`)."""
    openai_body: dict[str, Any] | None = None
    """The request as an OpenAI chat-completions body (`openmux serve`'s): an OpenAI-protocol
    provider is sent it as it came, model swapped and quirks applied."""
    rate_limit_headers: dict[str, str] = field(default_factory=dict)
    """The answering provider's `x-ratelimit-*` and `retry-after` response headers."""
    paused_ms: float = 0.0
    """Time spent waiting between tries (a retry's back-off, the pause before another
    round): neither a provider's time nor OpenMux's own work."""
    settle_later: list[Callable[[], object]] | None = None
    """Bookkeeping of a success that does not shape the answer (quota and usage counts,
    health, who answered for votes): None runs it as the answer forms; a list holds it
    until the caller has delivered the answer and calls `settled` (`openmux serve`: once
    the response is sent, so the client does not wait for it)."""

    @property
    def sent(self) -> int:
        """Attempts that reached a provider (a bench or a rule that skipped one costs none)."""
        return sum(1 for attempt in self.attempts if attempt.status not in NOT_SENT)

    @property
    def out_of_budget(self) -> bool:
        return self.sent >= self.max_attempts or time.perf_counter() >= self.deadline

    @property
    def seconds_left(self) -> float:
        return self.deadline - time.perf_counter()

    @property
    def needs_tools(self) -> bool:
        return bool(self.call_kwargs.get("tools"))

    @property
    def needs_response_format(self) -> bool:
        """Structured output by `response_format` (JSON mode or a JSON schema)."""
        fmt = self.call_kwargs.get("response_format")
        return isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")

    @property
    def media_forms(self) -> frozenset[MediaForm]:
        """The media anywhere in the conversation, in the forms a client must send them."""
        return media_forms(self.messages)

    @property
    def has_image_input(self) -> bool:
        return not self.media_forms.isdisjoint(("image", "image URL"))

    @property
    def has_audio_input(self) -> bool:
        return not self.media_forms.isdisjoint(("audio", "audio URL"))

    def record(
        self,
        candidate: Candidate,
        status: str,
        *,
        error: str | None = None,
        latency_ms: float = 0.0,
        units: dict[str, float] | None = None,
    ) -> None:
        """The one place an attempt record is made."""
        if candidate is self.streaming:
            self.streaming = None
        self.attempts.append(
            Attempt(
                provider=candidate.provider.name,
                model=candidate.model.id,
                status=status,
                error=error,
                latency_ms=round(latency_ms, 2),
                hedged=candidate.key in self.hedged,
                units=units,
            )
        )

    def streaming_from(
        self, candidate: Candidate, rate_limit_headers: Mapping[str, str], sent: float
    ) -> None:
        """The candidate's stream has its first chunk in hand: who answers is known before
        the stream ends (unless a hedged race already went to another candidate)."""
        if not self.finished:
            self.winner = candidate
            self.streaming = candidate
            self.rate_limit_headers = dict(rate_limit_headers)
            self.marks["sent"] = sent

    def pause(self, seconds: float) -> float:
        """Count a wait between tries (see `paused_ms`) before it is slept; returns it."""
        self.paused_ms += seconds * 1000
        return seconds

    def settle(self, record: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Run `record(*args, **kwargs)` now, or after the answer (see `settle_later`)."""
        if self.settle_later is None:
            record(*args, **kwargs)
        else:
            self.settle_later.append(partial(record, *args, **kwargs))

    def settled(self) -> None:
        """Run the bookkeeping held back (see `settle_later`); later records run at once.
        The answer is delivered by now: a failing record is logged, not raised."""
        held, self.settle_later = self.settle_later or [], None
        for record in held:
            try:
                record()
            except Exception:
                _log.exception("recording an answer failed")

    def attempt_dicts(self) -> list[dict[str, Any]]:
        return [attempt.as_dict() for attempt in self.attempts]

    def metadata(self) -> dict[str, Any]:
        """The `response_metadata["openmux"]` contract."""
        if self.cached_from is not None:
            return {
                **self.cached_from,
                "latency_ms": round((time.perf_counter() - self.started) * 1000, 2),
                "cached": True,
                "attempts": [],
                **({"timings": self.timings()} if self.profile else {}),
            }
        classification = self.classification
        winner = self.winner
        return {
            "task": str(classification.task) if classification else None,
            "confidence": classification.confidence if classification else None,
            "provider": winner.provider.name if winner else None,
            "model": winner.model.id if winner else None,
            "reason": winner.reason if winner else None,
            "latency_ms": round((time.perf_counter() - self.started) * 1000, 2),
            "offline": self.offline,
            "cached": False,
            "attempts": self.attempt_dicts(),
            **self._considered(),
            **({"timings": self.timings()} if self.profile else {}),
        }

    def _considered(self) -> dict[str, Any]:
        """`considered`: a non-text label set aside for a text answer, and why."""
        decision, classification = self.output_decision, self.classification
        if decision is None or classification is None or decision.output != "text":
            return {}
        if str(classification.task) not in NON_TEXT_OUTPUT:
            return {}
        return {
            "considered": {
                "task": str(classification.task),
                "confidence": classification.confidence,
                "answered_with": "text",
                "why": decision.why,
            }
        }

    def timings(self) -> dict[str, float | None]:
        """Milliseconds per stage; None where this request had no such stage (connect is
        measured on the OpenAI-protocol pool only)."""
        marks = self.marks

        def span(start: str | float, end: str) -> float | None:
            begin = marks.get(start) if isinstance(start, str) else start
            if begin is None or end not in marks:
                return None
            return round((marks[end] - begin) * 1000, 2)

        return {
            "classify": span(self.started, "classified"),
            "select": span("classified", "selected"),
            "connect": span("sent", "headers"),
            "first_token": span(self.started, "first_token"),
            "total": round((time.perf_counter() - self.started) * 1000, 2),
        }


def request_exhausted(request: RouteRequest) -> NoProviderAvailable:
    """Every candidate failed, or the attempt budget or the deadline ran out."""
    if request.out_of_budget and request.attempts:
        message = (
            f"no provider could answer within the request's budget "
            f"({request.sent} attempts sent, max {request.max_attempts}; "
            f"{time.perf_counter() - request.started:.1f} s)"
        )
    elif request.out_of_budget:
        message = (
            "the request's time budget ran out before any provider could be tried "
            f"(timeouts.total = {request.deadline - request.started:g} s)"
        )
    elif request.attempts:
        message = "no provider could answer: every candidate failed"
    elif request.cause is not None:
        message = f"no provider can be tried: {request.cause}"
    elif request.missing_capability is not None:
        message = request.missing_capability
    elif request.offline:
        message = "offline and no local model or server is available"
    else:
        message = "no provider is configured or reachable"
    hints = list(dict.fromkeys(request.hints))
    if (
        not hints
        and not request.attempts
        and request.cause is None
        and request.missing_capability is None
        and not request.out_of_budget
    ):
        hints.append("set OPENROUTER_API_KEY (free key at https://openrouter.ai/keys)")
    return NoProviderAvailable(message, attempts=request.attempt_dicts(), hints=hints)
