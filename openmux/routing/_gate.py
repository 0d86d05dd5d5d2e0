"""The last gate before a candidate is sent a byte: the request's budget, a provider that
already failed it, a context too small (or a recording too large), media its client
cannot send, a key refused this process, free_only, a bench and the free-tier quota.
Chat, embeddings and media calls pass it alike."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from openmux.providers import (
    ProviderFailure,
    recording_size,
    too_large_for,
    unsendable,
)
from openmux.routing._plan import is_free_offer
from openmux.routing._react import known_context, refused_key_hint
from openmux.routing._request import Candidate, RouteRequest, request_exhausted
from openmux.routing._select import estimate_tokens, skip_over_quota

if TYPE_CHECKING:
    from openmux.routing._context import Router


def rule_out(router: Router, candidate: Candidate, request: RouteRequest) -> None:
    """Everything that rules this candidate out without sending a byte."""
    provider = candidate.provider
    name = f"{provider.name}:{candidate.model.id}"
    if request.out_of_budget:
        raise request_exhausted(request)
    if provider.name in request.failed_providers:
        raise ProviderFailure("connection", f"{provider.name} already failed in this request")
    context = known_context(candidate)
    if context is not None and context < request.min_context:
        raise ProviderFailure("context_length", f"{name} has too small a context")
    if request.output == "text":
        cannot = unsendable(provider, request.media_forms)
        if cannot is not None:  # its client would refuse it here, unsent: no bench
            request.record(candidate, "http_4xx", error=f"not sent: {cannot}")
            raise ProviderFailure("http_4xx", cannot)
    if request.output == "transcription":
        too_large = too_large_for(provider, candidate.model.id, recording_size(request.messages))
        if too_large is not None:  # the caller's file, no fault of the provider's: no bench
            request.record(candidate, "context_length", error=too_large)
            raise ProviderFailure("context_length", too_large)
    why = router.policy.disabled.get(provider.name)
    if why is not None:
        request.record(candidate, "auth", error=f"disabled for this process: {why}")
        request.hints.append(refused_key_hint(candidate))
        raise ProviderFailure("auth", why)
    # free_only is enforced here, at the last step before sending.
    if router.settings.free_only and not _free(candidate):
        request.record(candidate, "not_free", error="paid model; free_only is on")
        raise ProviderFailure("not_free", f"{name} is not free")
    bench = router.health.bench_of(*candidate.key, probe=True)
    if bench is not None:
        request.benched.append(bench)
        seconds = max(0.0, bench.until - time.time())
        request.record(
            candidate, "circuit_open", error=f"benched {seconds:.1f} s more after {bench.reason}"
        )
        raise ProviderFailure("circuit_open", f"{name} is benched")
    blocked = router.quotas.reserve(provider, candidate.model.id, estimate_tokens(request))
    if blocked is not None:
        skip_over_quota(router, candidate, request, blocked)
        raise ProviderFailure("over_quota", f"{name} is over its free-tier quota")


def _free(candidate: Candidate) -> bool:
    offer = candidate.facts.offer if candidate.facts is not None else None
    return candidate.free and is_free_offer(
        candidate.provider, candidate.model.id, offer.free if offer is not None else None
    )
