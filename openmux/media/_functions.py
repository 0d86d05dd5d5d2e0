"""`generate_image`, `speak`, `transcribe`: one media request through the same pipeline as
chat (classification skipped, selection of the models making that media, failover,
benching, quotas and the free rule), answered as bytes or text with the metadata."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, HumanMessage

from openmux.errors import OpenMuxError
from openmux.media._results import Media, Transcript, first_media
from openmux.providers import asked_formats, audio_seconds, megabytes, parse_size, sniff_mime

if TYPE_CHECKING:
    from openmux.chat_models import ChatOpenMux

#: The keyword arguments of the functions that choose the model rather than the media.
ROUTING = ("model", "provider")
#: An audio format's name ("wav", "mp3"), several in order of preference, or None (any).
AudioFormat = str | Sequence[str] | None
#: The longest text to speak: OpenAI's limit on /v1/audio/speech's input. A longer one
#: would be refused by each provider in turn, each refusal a request of its quota.
SPEECH_MAX_CHARS = 4096


class RecordingTooLarge(OpenMuxError, ValueError):
    """A recording larger than any transcription model that would be asked takes."""


def _llm(llm: ChatOpenMux | None, options: dict[str, Any]) -> ChatOpenMux:
    if llm is not None:
        return llm
    from openmux.chat_models import ChatOpenMux

    return ChatOpenMux(**options)


def _checked_text(text: str, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{what} is empty: give the text to use")
    return text


def image_request(prompt: str, size: Any) -> tuple[list[HumanMessage], dict[str, Any]]:
    call: dict[str, Any] = {"task": "image"}
    if size is not None:
        width, height = parse_size(size)
        call["size"] = f"{width}x{height}"
    return [HumanMessage(_checked_text(prompt, "the image prompt"))], call


def speech_request(
    text: str, voice: str | None, audio_format: AudioFormat, language: str | None
) -> tuple[list[HumanMessage], dict[str, Any]]:
    text = _checked_text(text, "the text to speak")
    if len(text) > SPEECH_MAX_CHARS:
        raise ValueError(
            f"the text to speak is {len(text)} characters; the limit is {SPEECH_MAX_CHARS}: "
            "split the text and ask for each part"
        )
    call: dict[str, Any] = {"task": "tts"}
    formats = asked_formats(audio_format)
    for key, value in (("voice", voice), ("audio_format", formats), ("language", language)):
        if value:
            call[key] = value
    return [HumanMessage(text)], call


def transcription_request(
    audio: str | Path | bytes,
    mime_type: str | None,
    language: str | None,
    largest: Callable[[], int | None] = lambda: None,
) -> tuple[list[HumanMessage], dict[str, Any]]:
    """The request for `audio`; `largest` says the bytes of the largest recording the
    models that would be asked take (None: no known limit)."""
    name = "the recording"
    if isinstance(audio, (str, Path)):
        path = Path(audio).expanduser()
        name = repr(str(path))
        if not path.is_file():
            raise ValueError(f"no audio file at {str(path)!r}: give the path of a recording")
        try:
            # Sized before it is read: a file no model takes is never held, let alone encoded.
            _check_size(path.stat().st_size, name, largest)
            data = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read the recording {str(path)!r}: {exc.strerror}") from exc
    else:
        data = bytes(audio)
        _check_size(len(data), name, largest)
    if not data:
        raise ValueError("the recording is empty: give an audio file (wav, mp3, ...)")
    instead = _not_audio(data)
    if instead is not None:
        raise ValueError(
            f"{name} is not a recording ({instead}): give an audio file (wav, mp3, ...)"
        )
    mime = mime_type or sniff_mime(data, "audio/wav")
    encoded = base64.b64encode(data)
    del data  # a file read here is not held beside both forms of its base64
    block = {"type": "audio", "base64": encoded.decode("ascii"), "mime_type": mime}
    call: dict[str, Any] = {"task": "audio"}
    if language:
        call["language"] = language
    return [HumanMessage(content=[block])], call


def _check_size(size: int, name: str, largest: Callable[[], int | None]) -> None:
    limit = largest() if size else None
    if limit is not None and size > limit:
        size_mb, limit_mb = megabytes(size, limit)
        raise RecordingTooLarge(
            f"{name} is {size_mb}; the transcription models here take at most {limit_mb}: "
            "split it or compress it (to mp3, say) and send each part"
        )


def _transcription_limit(chat: ChatOpenMux, routing: dict[str, Any]) -> Callable[[], int | None]:
    from openmux.routing import transcription_limit

    model = routing.get("model") or chat.model
    provider = routing.get("provider") or chat.provider
    return lambda: transcription_limit(chat.settings, model, provider)


def _not_audio(data: bytes) -> str | None:
    """What the bytes plainly are instead of sound (an image, text, a WAV of no frames),
    else None: no recording format's header is printable text."""
    mime = sniff_mime(data, "")
    if mime.startswith("image/"):
        return f"it is an image, {mime}"
    if audio_seconds(data) == 0:  # every provider refuses it, each asked in turn
        return "it holds no sound, a WAV of no frames"
    head = data[:4096]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3 or exc.reason != "unexpected end of data":
            return None
        text = head[: exc.start].decode("utf-8")  # a character cut at the 4096th byte
    if all(char.isprintable() or char.isspace() for char in text):
        return "it holds text"
    return None


def _routing(options: dict[str, Any]) -> dict[str, Any]:
    return {key: options.pop(key) for key in ROUTING if options.get(key)}


def _media(answer: AIMessage, what: str) -> Media:
    return first_media(answer, what)


def _transcript(answer: AIMessage) -> Transcript:
    return Transcript(answer.text.strip(), dict(answer.response_metadata.get("openmux") or {}))


def generate_image(
    prompt: str,
    *,
    size: str | tuple[int, int] | None = None,
    llm: ChatOpenMux | None = None,
    **options: Any,
) -> Media:
    """An image made from `prompt` by the best free image model (`size` as "WxH" where the
    model takes one). `model=`/`provider=` pin it; other options are ChatOpenMux's."""
    messages, call = image_request(prompt, size)
    routing = _routing(options)
    return _media(_llm(llm, options).invoke(messages, **call, **routing), "image")


async def agenerate_image(
    prompt: str,
    *,
    size: str | tuple[int, int] | None = None,
    llm: ChatOpenMux | None = None,
    **options: Any,
) -> Media:
    messages, call = image_request(prompt, size)
    routing = _routing(options)
    return _media(await _llm(llm, options).ainvoke(messages, **call, **routing), "image")


def speak(
    text: str,
    *,
    voice: str | None = None,
    audio_format: AudioFormat = None,
    language: str | None = None,
    llm: ChatOpenMux | None = None,
    **options: Any,
) -> Media:
    """`text` spoken by the best free speech model (offline: eSpeak NG). `voice` is the
    model's voice name. `audio_format` ("wav", "mp3", or several in order of preference)
    asks only the models making it (Gemini and eSpeak make WAV, Cloudflare's MP3, an
    OpenAI-style server either), and raises AudioFormatUnavailable, naming the formats
    that can be made, when none here does; None takes the format the model makes."""
    messages, call = speech_request(text, voice, audio_format, language)
    routing = _routing(options)
    return _media(_llm(llm, options).invoke(messages, **call, **routing), "speech")


async def aspeak(
    text: str,
    *,
    voice: str | None = None,
    audio_format: AudioFormat = None,
    language: str | None = None,
    llm: ChatOpenMux | None = None,
    **options: Any,
) -> Media:
    messages, call = speech_request(text, voice, audio_format, language)
    routing = _routing(options)
    return _media(await _llm(llm, options).ainvoke(messages, **call, **routing), "speech")


def transcribe(
    audio: str | Path | bytes,
    *,
    mime_type: str | None = None,
    language: str | None = None,
    llm: ChatOpenMux | None = None,
    **options: Any,
) -> Transcript:
    """The text spoken in a recording (a path or the file's bytes)."""
    routing = _routing(options)
    chat = _llm(llm, options)
    largest = _transcription_limit(chat, routing)
    messages, call = transcription_request(audio, mime_type, language, largest)
    return _transcript(chat.invoke(messages, **call, **routing))


async def atranscribe(
    audio: str | Path | bytes,
    *,
    mime_type: str | None = None,
    language: str | None = None,
    llm: ChatOpenMux | None = None,
    **options: Any,
) -> Transcript:
    routing = _routing(options)
    chat = _llm(llm, options)
    largest = _transcription_limit(chat, routing)
    messages, call = transcription_request(audio, mime_type, language, largest)
    return _transcript(await chat.ainvoke(messages, **call, **routing))
