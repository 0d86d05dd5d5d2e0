"""Stage 4, react: what one failure means for the shared health state and this request.

The health package decides and records the bench (`FailurePolicy.after_failure`); this
stage applies the rest of the reaction to the request in flight.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from openmux._logging import get_logger
from openmux.errors import NoProviderAvailable
from openmux.health import PROVIDER_WIDE
from openmux.routing._load import load

if TYPE_CHECKING:
    from openmux.providers import ProviderFailure
    from openmux.quotas import Spent
    from openmux.routing._context import Router
    from openmux.routing._request import Candidate, RouteRequest

_log = get_logger("openmux.routing")


def react(
    router: Router,
    candidate: Candidate,
    request: RouteRequest,
    failure: ProviderFailure,
    spent: Spent | None = None,
) -> None:
    """`spent`: the failure said a daily allowance is used up (see openmux.quotas)."""
    if failure.kind == "timeout" and load.saturated():
        return  # this process was too busy to read the answer: not the provider's failure
    provider = candidate.provider
    if spent is not None:
        # Benched until the allowance comes back, not for a generic cool-down.
        failure.retry_after = max(0.0, spent.until - time.time())
        if spent.provider_wide:
            router.health.record_failure(
                provider.name,
                PROVIDER_WIDE,
                reason=spent.reason,
                bench_for=failure.retry_after,
                breaker=False,
            )
    reaction = router.policy.after_failure(*candidate.key, failure)
    bench = router.health.bench_of(*candidate.key)
    if bench is not None:
        _log.info(
            "bench: %s:%s for %.0f s after %s",
            provider.name,
            bench.model,
            bench.until - time.time(),
            spent.reason if spent is not None else failure.kind,
        )
    if reaction.skip_provider:
        request.failed_providers.add(provider.name)
    if reaction.disable_provider:
        request.hints.append(refused_key_hint(candidate))
    if reaction.larger_context:
        known = known_context(candidate)
        if known is not None:  # an unknown context says nothing about the others'
            request.min_context = max(request.min_context, known + 1)
    if reaction.stop_request:
        raise NoProviderAvailable(
            f"{provider.name}:{candidate.model.id} refused the request ({failure.kind}): "
            f"{failure}; other providers were not asked, they would refuse it alike",
            attempts=request.attempt_dicts(),
        ) from failure


def known_context(candidate: Candidate) -> int | None:
    """The candidate's context length when a list or the catalog states it, else None."""
    if candidate.facts is None:
        return candidate.model.context_length
    return candidate.facts.context_length


def refused_key_hint(candidate: Candidate) -> str:
    provider = candidate.provider
    return f"{provider.name}: the key was refused; check {provider.key_env or 'its key'}"
