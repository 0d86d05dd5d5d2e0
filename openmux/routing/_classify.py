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
from openmux.routing._request import RouteRequest

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from openmux.routing._context import Router

Ask = Callable[[RouteRequest], "BaseMessage"]
AsyncAsk = Callable[[RouteRequest], Awaitable["BaseMessage"]]

# Tasks whose answer is not text: only a provider that produces that output may serve them.
NON_TEXT_OUTPUT = {
    "tts": "spoken audio (text-to-speech)",
    "audio": "audio work (speech-to-text, music or sound generation)",
    "image": "images (generation or editing)",
    "other": "video, 3D or another output that no text, image, audio or vector model makes",
}

# What would serve each non-text task, for the UnsupportedTask message.
_WOULD_SERVE = {
    "tts": "a speech model: set GROQ_API_KEY, GEMINI_API_KEY or CLOUDFLARE_API_TOKEN and "
    'CLOUDFLARE_ACCOUNT_ID, or pip install "openmux[speech]" for offline speech',
    "audio": "a transcription model for a recording given as an audio content block "
    "(set GROQ_API_KEY, or CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID); no configured "
    "provider generates music or sound effects",
    "image": "an image model: set CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID or HF_TOKEN, "
    "or list image_models for a provider in openmux.toml (to ask about a picture instead, "
    "attach it: vision models read images)",
    "other": "a video or 3D generation service (for example a text-to-video model behind an "
    "API); no built-in provider makes video or 3D",
}


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
    if request.output == "text" and needs_other_output(request):
        request.output = media_output(request) or "text"


# Below this confidence a non-text label is more likely a misreading than a request
# for a picture or a sound, and a text answer serves the user better than an error.
NON_TEXT_MIN_CONFIDENCE = 0.5

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
    """Does the request ask for an output (image, speech, ...) that a chat model cannot give?"""
    classification = request.classification
    if classification is None or classification.confidence < NON_TEXT_MIN_CONFIDENCE:
        return False
    if request.output != "text":
        return False  # a media model was chosen to make it (see `media_output`)
    if request.needs_tools:
        return False  # an agent's tools may make the image or sound; the model calls them
    task = str(classification.task)
    if task == "image" and request.has_image_input:
        return False  # image understanding: vision-capable chat models serve it
    return task in NON_TEXT_OUTPUT


def raise_unsupported(request: RouteRequest) -> BaseMessage:
    task = str(request.classification.task) if request.classification else "other"
    what = NON_TEXT_OUTPUT[task]
    raise UnsupportedTask(
        task,
        f"this request was classified as {task!r}: it asks for {what}, and no configured "
        "provider produces that output, so OpenMux will not answer it with text. "
        f"What would serve it: {_WOULD_SERVE[task]}"
        + "".join(f"; {hint}" for hint in dict.fromkeys(request.hints))
        + ". Pass task='chat' to get a text answer on purpose.",
    )
