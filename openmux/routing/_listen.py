"""A question about a recording: transcribe the recording, then answer from the transcript.

A request classified as audio with a recording attached goes to a transcription model
(`media_output`). When the user's turn also asks something other than the transcript
("Describe this audio:", "What does the caller want?"), the transcript alone would not
answer it: each recording is transcribed by its own request through the same pipeline
(same failover, quotas, free rule; its attempts join this request's), the audio block is
replaced by the transcript as text, and the request goes on as a text request to the
chat models. A caller's explicit task is never second-guessed: `task="audio"` (as
`transcribe()` sets) gets the transcript.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from langchain_core.messages import HumanMessage

from openmux.routing._output import OutputDecision
from openmux.routing._request import RouteRequest

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

Ask = Callable[[RouteRequest], "BaseMessage"]
AsyncAsk = Callable[[RouteRequest], Awaitable["BaseMessage"]]

_AUDIO_BLOCKS = ("audio", "input_audio")
# Asking for the words themselves: the transcript is the answer.
_WANTS_TRANSCRIPT = re.compile(
    r"\b(transcri\w*|dictat\w*|speech[- ]to[- ]text|write (it|this|that) down|"
    r"what (is|was|gets?) (said|spoken)|what (does|did) (it|he|she|they|the \w+) say)\b",
    re.IGNORECASE,
)
ANSWERED_FROM_TRANSCRIPT = (
    "a question about an attached recording: the recording was transcribed and the "
    "question answered from the transcript"
)


def asks_about_recording(request: RouteRequest) -> bool:
    """A recording headed for a transcription model, with a question beside it."""
    if request.output != "transcription" or request.task is not None:
        return False
    turn = next((m for m in reversed(request.messages) if isinstance(m, HumanMessage)), None)
    question = turn.text.strip() if turn is not None else ""
    return bool(question) and not _WANTS_TRANSCRIPT.search(question)


def _recordings(request: RouteRequest) -> list[dict[str, Any]]:
    return [
        block
        for message in request.messages
        if isinstance(message.content, list)
        for block in message.content
        if isinstance(block, dict) and block.get("type") in _AUDIO_BLOCKS
    ]


def _transcription_request(request: RouteRequest, recording: dict[str, Any]) -> RouteRequest:
    # The caller's language spares the model guessing it from the sound (a short recording
    # guessed wrong comes back as words of another language).
    language = request.call_kwargs.get("language")
    return RouteRequest(
        messages=[HumanMessage(content=[recording])],
        call_kwargs={"language": language} if language else {},
        task="audio",
        profile=request.profile,
    )


def _as_text(request: RouteRequest, transcripts: dict[int, str]) -> None:
    """The request with each recording replaced by its transcript, for the chat models."""
    messages = []
    for message in request.messages:
        if isinstance(message.content, list) and any(id(b) in transcripts for b in message.content):
            content = [
                {
                    "type": "text",
                    "text": f"[Transcript of the attached recording]\n{transcripts[id(b)]}",
                }
                if id(b) in transcripts
                else b
                for b in message.content
            ]
            message = message.model_copy(update={"content": content})
        messages.append(message)
    request.messages = messages
    request.output = "text"
    request.output_decision = OutputDecision("text", ANSWERED_FROM_TRANSCRIPT)


def _transcribed(request: RouteRequest, sub: RouteRequest, answer: BaseMessage) -> str:
    request.attempts.extend(sub.attempts)
    return answer.text.strip()


def listen(request: RouteRequest, transcribe: Ask) -> RouteRequest:
    """Transcribe the recordings of a question about them, and make it a text request."""
    if asks_about_recording(request):
        transcripts = {}
        for recording in _recordings(request):
            sub = _transcription_request(request, recording)
            transcripts[id(recording)] = _transcribed(request, sub, transcribe(sub))
        _as_text(request, transcripts)
    return request


async def alisten(request: RouteRequest, transcribe: AsyncAsk) -> RouteRequest:
    if asks_about_recording(request):
        transcripts = {}
        for recording in _recordings(request):
            sub = _transcription_request(request, recording)
            transcripts[id(recording)] = _transcribed(request, sub, await transcribe(sub))
        _as_text(request, transcripts)
    return request
