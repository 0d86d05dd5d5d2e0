"""The call stage for embeddings: one candidate embeds the texts, scrubbed as its
provider may see them, with the attempt recorded and reacted to as a chat call's."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from openmux.privacy import scrub_texts_for_provider
from openmux.providers import watching_rate_limits
from openmux.routing._call import _built, _fail, _succeed
from openmux.routing._gate import rule_out

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from openmux.routing._context import Router
    from openmux.routing._request import Candidate, RouteRequest

T = TypeVar("T")


def _embeddings_model(
    router: Router, candidate: Candidate, request: RouteRequest, *, aio: bool
) -> Embeddings:
    rule_out(router, candidate, request)
    provider, model = candidate.provider, candidate.model.id
    return _built(
        router, candidate, request, lambda: router.pool.embeddings(provider, model, aio=aio)
    )


def embed_candidate(
    router: Router,
    candidate: Candidate,
    request: RouteRequest,
    texts: list[str],
    call: Callable[[Embeddings, list[str]], T],
) -> T:
    """`call(model, texts)` at this candidate, the texts scrubbed as its provider may see them."""
    model = _embeddings_model(router, candidate, request, aio=False)
    sent = scrub_texts_for_provider(router.settings.privacy, candidate.provider, texts)
    started = time.perf_counter()
    try:
        with watching_rate_limits() as seen:
            result = call(model, sent)
    except Exception as exc:
        raise _fail(router, candidate, request, exc, started, seen) from exc
    tokens = {"input_tokens": sum(len(text) for text in sent) // 4}
    _succeed(router, candidate, request, started, started, usage=tokens, seen=seen)
    return result


async def aembed_candidate(
    router: Router,
    candidate: Candidate,
    request: RouteRequest,
    texts: list[str],
    call: Callable[[Embeddings, list[str]], Awaitable[T]],
) -> T:
    model = _embeddings_model(router, candidate, request, aio=True)
    sent = scrub_texts_for_provider(router.settings.privacy, candidate.provider, texts)
    started = time.perf_counter()
    try:
        with watching_rate_limits() as seen:
            result = await call(model, sent)
    except Exception as exc:
        raise _fail(router, candidate, request, exc, started, seen) from exc
    tokens = {"input_tokens": sum(len(text) for text in sent) // 4}
    _succeed(router, candidate, request, started, started, usage=tokens, seen=seen)
    return result
