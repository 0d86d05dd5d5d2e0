"""Stage 4, react: what one failure means for the shared health state and this request.

The health package decides and records the bench (`FailurePolicy.after_failure`); this
stage applies the rest of the reaction to the request in flight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from openmux.errors import NoProviderAvailable
from openmux.routing._load import load

if TYPE_CHECKING:
    from openmux.providers import ProviderFailure
    from openmux.routing._context import Router
    from openmux.routing._request import Candidate, RouteRequest


def react(
    router: Router, candidate: Candidate, request: RouteRequest, failure: ProviderFailure
) -> None:
    if failure.kind == "timeout" and load.saturated():
        return  # this process was too busy to read the answer: not the provider's failure
    reaction = router.policy.after_failure(*candidate.key, failure)
    provider = candidate.provider
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
