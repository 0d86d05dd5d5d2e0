"""Media wire formats: one row per format, naming how a request is sent and its answer read.

A provider table row's `MediaModel.wire` names one of `MEDIA_WIRES`. Each row has a
`build` (the HTTP request for a prompt or a recording) and a `read` (the media or text
in the provider's answer); the adapter in `_media` sends one and applies the other.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openmux.config import LOCAL_IMAGE_MODEL_ID, LOCAL_TRANSCRIPTION_MODEL_ID, MediaKind
from openmux.providers._failures import ProviderFailure, failure_from_error_object
from openmux.providers._media_formats import (
    AUDIO_FORMAT_MIMES,
    MIME_SUFFIXES,
    pcm16_to_wav,
    sniff_mime,
)

if TYPE_CHECKING:
    from openmux.config import ProviderSettings


#: The per-call options a media model reads into its `MediaInput` (a chat model takes none).
MEDIA_OPTIONS = frozenset({"size", "voice", "audio_format", "language"})


@dataclass(frozen=True)
class MediaInput:
    """What one media request asks for: a prompt or text to speak, or a recording."""

    model: str
    text: str = ""
    audio: bytes = b""
    audio_mime: str = "audio/wav"
    size: tuple[int, int] | None = None
    voice: str = ""
    audio_format: str = ""
    language: str = ""


@dataclass(frozen=True)
class HttpCall:
    """One HTTP POST; exactly one of json, content or files is the body."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    files: Mapping[str, tuple[str, bytes, str]] | None = None
    data: Mapping[str, str] | None = None


@dataclass(frozen=True)
class MediaOutput:
    """Media bytes and their mime type, or a transcript; a reply holding only a link to
    the media sets `fetch` (the adapter downloads it)."""

    data: bytes = b""
    mime_type: str = ""
    text: str | None = None
    fetch: str | None = None


@dataclass(frozen=True)
class Reply:
    """What the adapter hands a wire's `read`: the HTTP answer's headers and body."""

    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            body = json.loads(self.body)
        except ValueError as exc:
            raise ProviderFailure("bad_response", "the answer is not JSON") from exc
        _raise_error_in(body)
        return body


def _raise_error_in(body: Any) -> None:
    """Raise the failure an answer's `{"error": ...}` names: a provider can say it failed
    (rate-limited, say) in a 200, as OpenRouter does in chat."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, Mapping):
        raise failure_from_error_object(error)
    if isinstance(error, str) and error:
        raise failure_from_error_object({"message": error})


@dataclass(frozen=True)
class Wire:
    """An HTTP format (`build` the request, `read` the reply) or an in-process `engine`;
    `missing` names what to install when the engine is not there. A speech wire's
    `formats` are the audio formats it can answer in (`MediaInput.audio_format` picks one
    where there are several)."""

    makes: MediaKind
    build: Callable[[ProviderSettings, MediaInput], HttpCall] | None = None
    read: Callable[[Reply], MediaOutput] | None = None
    engine: Callable[[MediaInput], MediaOutput] | None = None
    missing: Callable[[], str | None] = lambda: None
    formats: tuple[str, ...] = ()


# -- helpers ------------------------------------------------------------------------------


_LARGEST_SIDE = 4096
"""No image model OpenMux routes to makes a side larger (most stop at 1024 to 2048): a
larger size is a mistake, refused before a provider is asked (and charged) for it."""


def parse_size(size: Any) -> tuple[int, int]:
    """`"512x512"` (or a (width, height) pair) as a pair of positive ints, each at most
    _LARGEST_SIDE."""
    if isinstance(size, (tuple, list)) and len(size) == 2:
        width, height = size
    else:
        width, _, height = str(size).lower().partition("x")
    try:
        pair = (int(width), int(height))
    except (TypeError, ValueError):
        pair = (0, 0)
    if min(pair) <= 0:
        raise ValueError(f"size {size!r} is not WIDTHxHEIGHT (for example 512x512)")
    if max(pair) > _LARGEST_SIDE:
        raise ValueError(f"size {size!r} has a side over {_LARGEST_SIDE} pixels (try 1024x1024)")
    return pair


def _bearer(provider: ProviderSettings) -> dict[str, str]:
    headers = dict(provider.headers)
    if provider.api_key is not None:
        headers["Authorization"] = f"Bearer {provider.api_key.get_secret_value()}"
    return headers


def _root(provider: ProviderSettings, suffix: str) -> str:
    """The provider's base_url without its API-version suffix (`/v1`, `/openai`)."""
    url = provider.base_url
    return url[: -len(suffix)] if url.endswith(suffix) else url


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise ProviderFailure("bad_response", f"the answer holds no {what}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProviderFailure("bad_response", f"the {what} is not valid base64") from exc


def _media(data: bytes, expected: str) -> MediaOutput:
    mime = sniff_mime(data, fallback="")
    if not mime.startswith(expected):
        with contextlib.suppress(ValueError):  # not JSON either: no reason given
            _raise_error_in(json.loads(data))
        raise ProviderFailure("bad_response", f"the answer is not {expected} data")
    return MediaOutput(data=data, mime_type=mime)


def _text(value: Any) -> MediaOutput:
    if not isinstance(value, str):
        raise ProviderFailure("bad_response", "the answer holds no transcript")
    return MediaOutput(text=value.strip())


def _filename(mime: str) -> str:
    return "audio" + MIME_SUFFIXES.get(mime, ".wav")


# -- OpenAI: /images/generations, /audio/speech, /audio/transcriptions ----------------------


def _openai_image_call(provider: ProviderSettings, ask: MediaInput) -> HttpCall:
    body: dict[str, Any] = {
        "model": ask.model,
        "prompt": ask.text,
        "n": 1,
        "response_format": "b64_json",
    }
    if ask.size is not None:
        body["size"] = f"{ask.size[0]}x{ask.size[1]}"
    return HttpCall(f"{provider.base_url}/images/generations", _bearer(provider), json=body)


def _openai_image_read(reply: Reply) -> MediaOutput:
    body = reply.json()
    data = body.get("data") if isinstance(body, dict) else None
    if not data or not isinstance(data[0], dict):
        raise ProviderFailure("bad_response", "the answer holds no image")
    first = data[0]
    if first.get("b64_json"):
        return _media(_b64(first["b64_json"], "image"), "image/")
    if isinstance(first.get("url"), str):
        return MediaOutput(fetch=first["url"])
    raise ProviderFailure("bad_response", "the answer holds no image")


def _openai_speech_call(provider: ProviderSettings, ask: MediaInput) -> HttpCall:
    body = {
        "model": ask.model,
        "input": ask.text,
        "voice": ask.voice or "alloy",
        "response_format": ask.audio_format or "wav",
    }
    return HttpCall(f"{provider.base_url}/audio/speech", _bearer(provider), json=body)


def _audio_read(reply: Reply) -> MediaOutput:
    return _media(reply.body, "audio/")


def _openai_transcription_call(provider: ProviderSettings, ask: MediaInput) -> HttpCall:
    data = {"model": ask.model, "response_format": "json"}
    if ask.language:
        data["language"] = ask.language
    files = {"file": (_filename(ask.audio_mime), ask.audio, ask.audio_mime)}
    return HttpCall(
        f"{provider.base_url}/audio/transcriptions", _bearer(provider), files=files, data=data
    )


def _openai_transcription_read(reply: Reply) -> MediaOutput:
    body = reply.json()
    return _text(body.get("text") if isinstance(body, dict) else None)


# -- Cloudflare Workers AI: POST /ai/run/MODEL --------------------------------------------


def _cloudflare_run(provider: ProviderSettings, ask: MediaInput, **body: Any) -> HttpCall:
    url = f"{_root(provider, '/v1')}/run/{ask.model}"
    return HttpCall(url, _bearer(provider), **body)


def _cloudflare_result(reply: Reply) -> dict[str, Any]:
    """`{"result": {...}, "success": true}`; a failure says why in `errors`."""
    body = reply.json()
    if not isinstance(body, dict):
        raise ProviderFailure("bad_response", "the answer is not a JSON object")
    if body.get("success") is False:
        errors = body.get("errors") or [{}]
        first = errors[0] if isinstance(errors[0], dict) else {}
        raise failure_from_error_object({"message": first.get("message", "failed"), **first})
    result = body.get("result")
    if not isinstance(result, dict):
        raise ProviderFailure("bad_response", "the answer holds no result")
    return result


def _cloudflare_image_call(provider: ProviderSettings, ask: MediaInput) -> HttpCall:
    return _cloudflare_run(provider, ask, json={"prompt": ask.text, "steps": 4})


def _cloudflare_image_read(reply: Reply) -> MediaOutput:
    return _media(_b64(_cloudflare_result(reply).get("image"), "image"), "image/")


def _cloudflare_transcription_call(provider: ProviderSettings, ask: MediaInput) -> HttpCall:
    body = {"audio": base64.b64encode(ask.audio).decode("ascii")}
    if ask.language:
        body["language"] = ask.language
    return _cloudflare_run(provider, ask, json=body)


def _cloudflare_whisper_call(provider: ProviderSettings, ask: MediaInput) -> HttpCall:
    return _cloudflare_run(provider, ask, content=ask.audio)


def _cloudflare_text_read(reply: Reply) -> MediaOutput:
    return _text(_cloudflare_result(reply).get("text"))


def _cloudflare_melotts_call(provider: ProviderSettings, ask: MediaInput) -> HttpCall:
    return _cloudflare_run(provider, ask, json={"prompt": ask.text, "lang": ask.language or "en"})


def _cloudflare_melotts_read(reply: Reply) -> MediaOutput:
    return _media(_b64(_cloudflare_result(reply).get("audio"), "audio"), "audio/")


def _cloudflare_aura_call(provider: ProviderSettings, ask: MediaInput) -> HttpCall:
    return _cloudflare_run(provider, ask, json={"text": ask.text, "speaker": ask.voice or "angus"})


# -- Gemini: native generateContent with an AUDIO response --------------------------------

_GEMINI_PCM_RATE = 24_000


def _gemini_tts_call(provider: ProviderSettings, ask: MediaInput) -> HttpCall:
    headers = dict(provider.headers)
    if provider.api_key is not None:
        headers["x-goog-api-key"] = provider.api_key.get_secret_value()
    voice = {"prebuiltVoiceConfig": {"voiceName": ask.voice or "Kore"}}
    body = {
        "contents": [{"parts": [{"text": ask.text}]}],
        "generationConfig": {
            "responseModalities": ["AUDIO"],
            "speechConfig": {"voiceConfig": voice},
        },
    }
    url = f"{_root(provider, '/openai')}/models/{ask.model}:generateContent"
    return HttpCall(url, headers, json=body)


def _gemini_tts_read(reply: Reply) -> MediaOutput:
    body = reply.json()
    try:
        inline = body["candidates"][0]["content"]["parts"][0]["inlineData"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ProviderFailure("bad_response", "the answer holds no audio") from exc
    pcm = _b64(inline.get("data"), "audio")
    mime = str(inline.get("mimeType", ""))
    rate = _GEMINI_PCM_RATE
    for part in mime.split(";"):
        name, _, value = part.strip().partition("=")
        if name == "rate" and value.isdigit():
            rate = int(value)
    return MediaOutput(data=pcm16_to_wav(pcm, rate), mime_type="audio/wav")


# -- Hugging Face Inference: raw bytes in or out ------------------------------------------


def _hf_url(provider: ProviderSettings, ask: MediaInput) -> str:
    return f"{_root(provider, '/v1')}/hf-inference/models/{ask.model}"


def _hf_image_call(provider: ProviderSettings, ask: MediaInput) -> HttpCall:
    body: dict[str, Any] = {"inputs": ask.text}
    if ask.size is not None:
        body["parameters"] = {"width": ask.size[0], "height": ask.size[1]}
    return HttpCall(_hf_url(provider, ask), _bearer(provider), json=body)


def _hf_image_read(reply: Reply) -> MediaOutput:
    return _media(reply.body, "image/")


def _hf_transcription_call(provider: ProviderSettings, ask: MediaInput) -> HttpCall:
    headers = {**_bearer(provider), "Content-Type": ask.audio_mime}
    return HttpCall(_hf_url(provider, ask), headers, content=ask.audio)


# -- in process: eSpeak NG (openmux.local) ----------------------------------------------


def _espeak(ask: MediaInput) -> MediaOutput:
    from openmux.local import synthesize

    pcm, rate = synthesize(ask.text, ask.voice or ask.language)
    return MediaOutput(data=pcm16_to_wav(pcm, rate), mime_type="audio/wav")


def _espeak_missing() -> str | None:
    from openmux.local import SPEECH_INSTALL_HINT, speech_available

    return None if speech_available() else f"local: {SPEECH_INSTALL_HINT} for offline speech"


# -- in process: pulled ONNX models (openmux.local) -------------------------------------


def _local_whisper(ask: MediaInput) -> MediaOutput:
    from openmux.local import WHISPER_TINY, pulled_media_folder, transcribe_wav

    folder = pulled_media_folder(WHISPER_TINY.name)
    if folder is None:
        raise ProviderFailure(
            "local", f"{WHISPER_TINY.name} is not pulled: run {WHISPER_TINY.pull_hint}"
        )
    return MediaOutput(text=transcribe_wav(folder, ask.audio, ask.language))


def _local_diffusion(ask: MediaInput) -> MediaOutput:
    from openmux.local import SD_TURBO, generate_png, pulled_media_folder

    folder = pulled_media_folder(SD_TURBO.name)
    if folder is None:
        raise ProviderFailure("local", f"{SD_TURBO.name} is not pulled: run {SD_TURBO.pull_hint}")
    return MediaOutput(data=generate_png(folder, ask.text, ask.size), mime_type="image/png")


def _pulled_missing(name: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        from openmux.local import media_model_missing

        return media_model_missing(name)

    return missing


# No wire converts one audio format into another: nothing among the dependencies encodes
# or decodes MP3. Gemini's and eSpeak's raw PCM is wrapped in a WAV header, the one
# format made from PCM without a codec.
MEDIA_WIRES: Mapping[str, Wire] = {
    "openai-images": Wire("image", _openai_image_call, _openai_image_read),
    "openai-speech": Wire(
        "speech", _openai_speech_call, _audio_read, formats=tuple(AUDIO_FORMAT_MIMES)
    ),
    "openai-transcription": Wire(
        "transcription", _openai_transcription_call, _openai_transcription_read
    ),
    "cloudflare-image": Wire("image", _cloudflare_image_call, _cloudflare_image_read),
    "cloudflare-transcription": Wire(
        "transcription", _cloudflare_transcription_call, _cloudflare_text_read
    ),
    "cloudflare-whisper": Wire("transcription", _cloudflare_whisper_call, _cloudflare_text_read),
    "cloudflare-melotts": Wire(
        "speech", _cloudflare_melotts_call, _cloudflare_melotts_read, formats=("mp3",)
    ),
    "cloudflare-aura": Wire("speech", _cloudflare_aura_call, _audio_read, formats=("mp3",)),
    "gemini-tts": Wire("speech", _gemini_tts_call, _gemini_tts_read, formats=("wav",)),
    "hf-image": Wire("image", _hf_image_call, _hf_image_read),
    "hf-transcription": Wire("transcription", _hf_transcription_call, _openai_transcription_read),
    "espeak": Wire("speech", engine=_espeak, missing=_espeak_missing, formats=("wav",)),
    "local-whisper": Wire(
        "transcription",
        engine=_local_whisper,
        missing=_pulled_missing(LOCAL_TRANSCRIPTION_MODEL_ID),
    ),
    "local-diffusion": Wire(
        "image", engine=_local_diffusion, missing=_pulled_missing(LOCAL_IMAGE_MODEL_ID)
    ),
}


def media_missing(wire: str) -> str | None:
    """What to install before a model of this wire format can answer (None: ready)."""
    row = MEDIA_WIRES.get(wire)
    return row.missing() if row is not None else None
