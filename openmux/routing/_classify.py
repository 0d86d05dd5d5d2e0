"""Stage 1, classify: label the request, and refuse one whose output nothing here makes.

The first tier is the bundled classifier (or the caller's). When it is unsure, and the
`[classifier]` second tier is on, a chat model is asked for the label: that question is
an ordinary chat request, answered by the caller's `ask` function (the pipeline), so it
fails over like any other.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from openmux.classifier import TaskClassification, TaskType
from openmux.errors import OpenMuxError, UnsupportedTask
from openmux.routing._output import NON_TEXT_OUTPUT, decide_output
from openmux.routing._request import RouteRequest

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from openmux.routing._context import Router

Ask = Callable[[RouteRequest], "BaseMessage"]
AsyncAsk = Callable[[RouteRequest], Awaitable["BaseMessage"]]


def media_output(request: RouteRequest) -> str | None:
    """The media a non-text request asks a media model for, when one can make it."""
    task = str(request.classification.task) if request.classification else None
    if task == "image" and not request.has_image_input:
        return "image"
    if task == "tts":
        return "speech"
    if task == "audio" and request.has_audio_input:
        return "transcription"
    return None


def _choose_output(request: RouteRequest) -> None:
    """Decide text or media (`decide_output`), and pick the media model kind for media."""
    request.output_decision = decide_output(request)
    if needs_other_output(request):  # (only while the output is still text)
        request.output = media_output(request) or "text"


# A label is one short word; a little room for a model that adds punctuation.
_LABEL_CALL = {"max_tokens": 8, "temperature": 0}


def classify(router: Router, request: RouteRequest, ask: Ask) -> RouteRequest:
    first = _first_tier(router, request)
    asked = _second_tier_question(router, request, first)
    if asked is not None:
        try:
            reply: str | None = ask(asked).text
        except OpenMuxError:
            reply = None
        first = _second_tier_decides(router, first, asked, reply)
    request.classification = first
    _choose_output(request)
    request.marks["classified"] = time.perf_counter()
    return request


async def aclassify(router: Router, request: RouteRequest, ask: AsyncAsk) -> RouteRequest:
    """`classify`, with the second tier's question asked without blocking the loop."""
    first = _first_tier(router, request)
    asked = _second_tier_question(router, request, first)
    if asked is not None:
        try:
            reply: str | None = (await ask(asked)).text
        except OpenMuxError:
            reply = None
        first = _second_tier_decides(router, first, asked, reply)
    request.classification = first
    _choose_output(request)
    request.marks["classified"] = time.perf_counter()
    return request


def _first_tier(router: Router, request: RouteRequest) -> TaskClassification:
    if request.task is not None:
        return TaskClassification(TaskType(request.task), 1.0, [], "task set by the caller")
    return router.first_tier(request.messages)


def _second_tier_question(
    router: Router, request: RouteRequest, first: TaskClassification
) -> RouteRequest | None:
    """The chat request that asks for a second opinion, when one is wanted."""
    if request.task is not None or not router.settings.classifier.second_tier:
        return None
    tier = router.second_tier
    if not tier.wanted(first, request.messages) or not router.online():
        return None
    from openmux.classifier import second_tier_question

    return RouteRequest(
        messages=second_tier_question(request.messages),
        call_kwargs=dict(_LABEL_CALL),
        task="chat",
        model=tier.model,
    )


def _second_tier_decides(
    router: Router, first: TaskClassification, asked: RouteRequest, reply: str | None
) -> TaskClassification:
    winner = asked.winner
    by = f"second tier ({winner.provider.name}:{winner.model.id})" if winner else "second tier"
    return router.second_tier.decide(first, reply, by)


def needs_other_output(request: RouteRequest) -> bool:
    """Does the request ask for an output (image, speech, ...) that a chat model cannot
    give? (`decide_output` decided, right after classification; a media model chosen to
    make it (`media_output`) can.)"""
    decision = request.output_decision
    return decision is not None and decision.output != "text" and request.output == "text"


# What would serve each non-text task: a provider that declares that output (DESIGN's
# `[providers.NAME]` media model lists), or the keys and extras of built-in ones.
SERVED_BY = {
    "tts": "a provider with text-to-speech models: set GROQ_API_KEY, GEMINI_API_KEY, or "
    'CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID; or pip install "openmux[speech]" for '
    "offline speech; or list speech_models in a [providers.NAME]",
    "audio": "a provider with speech-to-text models, for a recording given as an audio content "
    "block: set GROQ_API_KEY, or CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID, or list "
    "transcription_models in a [providers.NAME]; music and sound generation have no provider "
    "here yet",
    "image": "a provider with image models: set CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID "
    "or HF_TOKEN, or list image_models in a [providers.NAME]",
    "other": "a video or 3D generation service; none of OpenMux's providers makes video or 3D "
    "output yet",
}


def raise_unsupported(request: RouteRequest) -> BaseMessage:
    classification = request.classification
    task = str(classification.task) if classification else "other"
    what = NON_TEXT_OUTPUT[task]
    forced = request.task is not None
    if forced:
        how = f"the task was set to {task!r}"
    else:
        confidence = classification.confidence if classification else 0.0
        how = f"this request was classified as {task!r} (confidence {confidence:.2f})"
    hints = [f"what would serve it: {SERVED_BY[task]}", *dict.fromkeys(request.hints)]
    if task == "image" and not forced:
        hints.append("to ask about a picture instead, attach it: vision models read images")
    raise UnsupportedTask(
        task,
        f"{how}: it asks for {what}, and no configured provider produces that output, "
        "so OpenMux will not answer it with text",
        forced=forced,
        hints=hints,
        text_answer="for a text answer about it instead, pass {option}",
    )
