"""What a candidate's call goes to: the provider's OpenAI endpoint, which takes a
server's request body as it came, or a LangChain chat or media model; and `warm`, which
builds it before a hedge's clock starts.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from openmux.config import MEDIA_KINDS
from openmux.privacy import scrubs_for

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from openmux.routing._context import Router
    from openmux.routing._request import Candidate, RouteRequest


def model_for(
    router: Router, candidate: Candidate, request: RouteRequest, aio: bool
) -> BaseChatModel:
    """The chat model, or for a media output (image, speech, transcription) the media
    model: both answer a conversation with one AIMessage, so failover treats them alike."""
    provider, model = candidate.provider, candidate.model.id
    if request.output in MEDIA_KINDS:
        return router.pool.media(provider, model, request.output, aio=aio)
    return router.pool.chat(provider, model, aio=aio)


def body_as_it_came(
    router: Router, candidate: Candidate, request: RouteRequest, aio: bool
) -> dict[str, Any] | None:
    """The caller's OpenAI body (a server's request) when the call sends it to the
    provider's OpenAI endpoint (if it has one), with no LangChain chat model in between."""
    if not aio or request.output != "text":
        return None
    if scrubs_for(router.settings.privacy, candidate.provider):
        return None
    return request.openai_body


def warm(router: Router, candidate: Candidate, request: RouteRequest, *, aio: bool) -> None:
    """Build what the call will use ahead of it (the OpenAI endpoint, or the chat or media
    model), so a hedge timer measures the provider, not our imports; and nothing it will
    not use: a LangChain chat model beside an endpoint cost a server's first request
    about 0.6 s of imports. Errors surface again, recorded, when it is called."""
    with contextlib.suppress(Exception):
        sends_body = body_as_it_came(router, candidate, request, aio) is not None
        if sends_body and router.pool.openai_endpoint(candidate.provider) is not None:
            return
        model_for(router, candidate, request, aio)
