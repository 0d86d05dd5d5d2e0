"""What the router does after each kind of failure: one table, no if-chains elsewhere.

| kind             | bench                                   | this request          |
|------------------|-----------------------------------------|-----------------------|
| rate_limited     | Retry-After / reset time, else doubling | next candidate        |
| http_5xx         | the breaker; a Retry-After: see below   | may retry once        |
| connection       | the breaker                             | skip the provider     |
| timeout          | the breaker, opened by the first one    | next candidate        |
| bad_response     | the breaker                             | next candidate        |
| auth             | provider off for this process           | skip the provider     |
| payment_required | provider benched for an hour            | skip the provider     |
| context_length   | none                                    | only larger contexts  |
| content_policy   | none                                    | stop: the reason      |
| http_4xx         | none                                    | next candidate        |
| local            | none (the caller's or this machine's)   | decided by the router |

A rate limit is a statement about the key: everyone waits it out. The request in hand
waits a Retry-After of at most RATE_LIMIT_WAIT and retries the same candidate (the
best-ranked candidate is worth that wait, and the provider said when it would answer);
a longer one sends it to the next candidate at once (with nothing else left, it waits
for the soonest bench within its deadline).

A 5xx with a short Retry-After is one overloaded moment of a provider that may answer
the next request: it is counted and this request moves on, but nobody else is kept
away (concurrent requests would otherwise open the breaker on a provider that answers
most of them); only a Retry-After longer than SHORT_RETRY_AFTER benches.

One timeout opens the breaker: a provider that hangs must not cost every later request
its wait (the routing layer does not count a timeout its own overload caused).

A content-policy refusal is the same at every provider (and asking them all would send
the refused text around): the request stops with the provider's reason.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openmux.health._store import PROVIDER_WIDE, HealthStore

if TYPE_CHECKING:
    from openmux.providers import ProviderFailure

PAYMENT_BENCH_SECONDS = 3600.0
SHORT_RETRY_AFTER = 5.0
RATE_LIMIT_WAIT = 2.0


@dataclass(frozen=True)
class Reaction:
    """What one failure means. The policy applies the bench; the router applies the rest
    to its request (skip the provider, need a larger context)."""

    bench: str = "none"  # none | retry_after | breaker | provider_long
    skip_provider: bool = False
    disable_provider: bool = False
    retry_once: bool = False
    larger_context: bool = False
    opens_at_once: bool = False
    """The breaker opens on the first such failure, not after FAILURES_TO_OPEN in a row."""
    stop_request: bool = False
    """No other candidate is asked: the failure would be the same there."""


REACTIONS: dict[str, Reaction] = {
    "rate_limited": Reaction(bench="retry_after", retry_once=True),
    "http_5xx": Reaction(bench="breaker", retry_once=True),
    "connection": Reaction(bench="breaker", skip_provider=True, retry_once=True),
    "timeout": Reaction(bench="breaker", opens_at_once=True),
    "bad_response": Reaction(bench="breaker"),
    "stream_interrupted": Reaction(bench="breaker"),
    "auth": Reaction(disable_provider=True, skip_provider=True),
    "payment_required": Reaction(bench="provider_long", skip_provider=True),
    "context_length": Reaction(larger_context=True),
    "content_policy": Reaction(skip_provider=True, stop_request=True),
    "http_4xx": Reaction(),
    "local": Reaction(),
}


class FailurePolicy:
    """Applies REACTIONS to the health store (shared across processes) and keeps the
    providers whose key was refused (this process only)."""

    def __init__(self, health: HealthStore) -> None:
        self.health = health
        self.disabled: dict[str, str] = {}  # provider -> why, for this process
        self._lock = threading.Lock()

    def after_failure(self, provider: str, model: str, failure: ProviderFailure) -> Reaction:
        """Bench what the failure calls for; return the reaction for the request."""
        reaction = REACTIONS.get(failure.kind, Reaction())
        if reaction.disable_provider:
            with self._lock:
                self.disabled[provider] = str(failure)
        retry_after = failure.retry_after
        if reaction.bench == "retry_after" or (
            retry_after is not None and retry_after > SHORT_RETRY_AFTER
        ):
            seconds = retry_after
            if seconds is None:
                seconds = self.health.default_bench(provider, model)
            self.health.record_failure(provider, model, reason=failure.kind, bench_for=seconds)
        elif reaction.bench == "provider_long":
            self.health.record_failure(
                provider, PROVIDER_WIDE, reason=failure.kind, bench_for=PAYMENT_BENCH_SECONDS
            )
        elif retry_after is not None:  # a short overload: counted, never benched for all
            self.health.record_failure(provider, model, reason=failure.kind, breaker=False)
        elif reaction.bench == "breaker":
            self.health.record_failure(
                provider,
                model,
                reason=failure.kind,
                failures_to_open=1 if reaction.opens_at_once else None,
            )
        return reaction

    def worth_retrying(self, provider: str, model: str, failure: ProviderFailure) -> bool:
        """One retry of the same candidate: after a short Retry-After of a rate limit, or
        at once after a transient error of a candidate not known to be failing."""
        reaction = REACTIONS.get(failure.kind, Reaction())
        if not reaction.retry_once:
            return False
        if failure.kind == "rate_limited":
            return failure.retry_after is not None and failure.retry_after <= RATE_LIMIT_WAIT
        return failure.retry_after is None and self.health.usually_healthy(provider, model)

    @staticmethod
    def retry_delay(failure: ProviderFailure) -> float:
        """How long to wait before that retry: what the provider asked, else a jitter."""
        if failure.retry_after is not None:
            return failure.retry_after
        return random.uniform(0.05, 0.2)
