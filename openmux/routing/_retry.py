"""The one retry of a failed candidate: whether it is planned, the wait before it, and the
decision taken again after that wait.

A rate limit with a short Retry-After, or a transient error of a candidate not known to
be failing, earns one more try of the same candidate (the health policy says which). The
wait counts as a pause, neither provider time nor OpenMux's own work, and the candidate's
provider clock starts again at the retry's send, so no hedge races a candidate that is
only doing what its provider asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from openmux.providers import ProviderFailure, restart_clocks
from openmux.routing._request import Candidate, RouteRequest
from openmux.routing._select import estimate_tokens

if TYPE_CHECKING:
    from openmux.routing._context import Router


def retry_planned(
    router: Router, candidate: Candidate, request: RouteRequest, failure: ProviderFailure
) -> bool:
    provider = candidate.provider.name
    # A provider that already failed this request once (another model) gets no second try.
    failed_here = sum(1 for a in request.attempts if a.provider == provider and a.status != "ok")
    return (
        not request.out_of_budget
        and failed_here <= 1
        and router.policy.worth_retrying(*candidate.key, failure)
        and router.policy.retry_delay(failure) < request.seconds_left
    )


def retry_wait(router: Router, request: RouteRequest, failure: ProviderFailure) -> float:
    """Seconds to wait before the retry, counted as a pause; the candidate's provider clock
    starts again at the retry's send."""
    restart_clocks()
    return request.pause(router.policy.retry_delay(failure))


def still_retry(
    router: Router, candidate: Candidate, request: RouteRequest, failure: ProviderFailure
) -> bool:
    """After the wait: other requests may have shown the candidate failing meanwhile, and
    the retry is one more request, so it must fit the free-tier limits too."""
    return router.policy.worth_retrying(*candidate.key, failure) and (
        router.quotas.reserve(candidate.provider, candidate.model.id, estimate_tokens(request))
        is None
    )
