"""OpenAI's media endpoints in front of `openmux.media`: images, speech, transcription.

`model` names work as for chat (`openmux/auto` routes, `PROVIDER:ID` pins); the answer
carries the same `x-openmux-*` headers.
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from openmux.errors import AudioFormatUnavailable, OpenMuxError
from openmux.providers import parse_size
from openmux.server._chat import answer_headers
from openmux.server._errors import APIError, bad_request

if TYPE_CHECKING:
    from starlette.requests import Request

    from openmux.server._app import OpenMuxServer


def _routing(server: OpenMuxServer, body: dict[str, Any], task: str) -> dict[str, Any]:
    options = server.route_options(body)
    server.check_model_for(body["model"], task)
    return {key: options[key] for key in ("model", "provider") if options.get(key)}


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"'{field}' must be a non-empty string", field)
    return value


def _check_speech_pace(body: dict[str, Any]) -> None:
    """Refuse what OpenAI's speech endpoint takes and no model here does: another pace
    (the models speak at their own) and SSE events (the sound comes whole). Ignored, the
    client would get another answer than it asked for, and not be told."""
    speed = body.get("speed")
    if speed is not None:
        if isinstance(speed, bool) or not isinstance(speed, (int, float)):
            raise bad_request("'speed' must be a number from 0.25 to 4.0", "speed")
        if speed != 1:
            raise bad_request(
                f"'speed' {speed} cannot be honoured: the speech models here speak at their "
                "own pace; leave it out or send 1.0",
                "speed",
            )
    stream_format = body.get("stream_format")
    if stream_format == "sse":
        raise bad_request(
            "'stream_format' sse is not served here: leave it out (or send audio) to get "
            "the whole sound in one response",
            "stream_format",
        )
    if stream_format not in (None, "audio"):
        raise bad_request("'stream_format' must be audio or sse", "stream_format")


def _check_image_bytes(body: dict[str, Any]) -> None:
    """Refuse what asks for other bytes than a model here makes: a file format (each
    model answers in its own, which the answer's `output_format` names), a compression,
    a transparent background. Ignored, the client would save one kind of image as
    another."""
    for field in ("output_format", "output_compression"):
        if body.get(field) is not None:
            raise bad_request(
                f"'{field}' cannot be honoured: the image models here answer in their own "
                "format, which the answer's output_format names; leave it out",
                field,
            )
    background = body.get("background")
    if background not in (None, "auto", "opaque"):
        raise bad_request(
            "'background' must be auto or opaque: the image models here make no transparent images",
            "background",
        )


def _size(value: Any) -> str | None:
    """An image request's `size`: "WIDTHxHEIGHT", or None for the model's own ("auto")."""
    if value is None or value == "auto":
        return None
    if not isinstance(value, str):
        raise bad_request("'size' must be a string: WIDTHxHEIGHT or auto", "size")
    try:
        width, height = parse_size(value)
    except ValueError as exc:
        raise bad_request(str(exc), "size") from exc
    return f"{width}x{height}"


async def _answer(
    server: OpenMuxServer, started: float, call: Any, param: str | None = None
) -> Any:
    from openmux.media import RecordingTooLarge

    try:
        result = await call
    except RecordingTooLarge as exc:
        raise APIError(413, str(exc), param=param) from exc
    except AudioFormatUnavailable as exc:
        raise bad_request(str(exc), "response_format") from exc
    except OpenMuxError as exc:
        raise server.failure(exc, started) from exc
    except ValueError as exc:  # the media functions' checks of their input
        raise bad_request(str(exc), param) from exc
    server.metrics.record_attempts(result.metadata.get("attempts") or ())
    return result


async def images_generations(server: OpenMuxServer, request: Request) -> Response:
    from openmux.media import agenerate_image
    from openmux.server._app import json_response

    started = time.perf_counter()
    body = await server.read_json(request)
    prompt = _text(body, "prompt")
    # null is OpenAI's "the default" for each optional field.
    n = body.get("n")
    if n is not None and (n != 1 or not isinstance(n, int) or isinstance(n, bool)):
        raise bad_request("'n' must be 1: one image per request", "n")
    if body.get("response_format") not in (None, "b64_json"):
        raise bad_request(
            "'response_format' must be b64_json (no image hosting)", "response_format"
        )
    _check_image_bytes(body)
    size = _size(body.get("size"))
    image = await _answer(
        server,
        started,
        agenerate_image(prompt, size=size, llm=server.chat, **_routing(server, body, "image")),
    )
    payload = {
        "created": int(time.time()),
        "data": [{"b64_json": base64.b64encode(image.data).decode("ascii")}],
        # Models make PNG, JPEG or WebP: a client would otherwise assume OpenAI's PNG.
        "output_format": image.mime_type.partition("/")[2],
    }
    return json_response(payload, headers=answer_headers(image.metadata, started))


async def audio_speech(server: OpenMuxServer, request: Request) -> Response:
    from openmux.media import SPEECH_MAX_CHARS, aspeak

    started = time.perf_counter()
    body = await server.read_json(request)
    text = _text(body, "input")
    if len(text) > SPEECH_MAX_CHARS:  # said of the field by name, as OpenAI does
        raise bad_request(
            f"'input' is {len(text)} characters; the limit is {SPEECH_MAX_CHARS}: "
            "split the text and ask for each part",
            "input",
        )
    # Any format a speech model here makes; one none makes is refused naming those they do.
    audio_format = body.get("response_format")
    if audio_format is not None and not (isinstance(audio_format, str) and audio_format.strip()):
        raise bad_request(
            "'response_format' must be an audio format's name, such as mp3 or wav",
            "response_format",
        )
    _check_speech_pace(body)
    voice = body.get("voice")
    if voice is not None and not isinstance(voice, str):
        raise bad_request("'voice' must be a string: the model's voice name", "voice")
    sound = await _answer(
        server,
        started,
        aspeak(
            text,
            voice=voice,
            audio_format=audio_format,
            llm=server.chat,
            **_routing(server, body, "tts"),
        ),
    )
    headers = answer_headers(sound.metadata, started)
    return Response(sound.data, media_type=sound.mime_type, headers=headers)


async def audio_transcriptions(server: OpenMuxServer, request: Request) -> Response:
    from openmux.media import atranscribe
    from openmux.server._app import json_response

    started = time.perf_counter()
    limited = server.limited(request)
    try:
        form = await limited.form()
    except APIError:
        raise
    except Exception as exc:  # not multipart, or python-multipart missing
        raise bad_request(f"send multipart/form-data with a 'file' field ({exc})") from exc
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise bad_request("'file' must be an uploaded audio file", "file")
    data = await upload.read()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    if "model" not in fields:
        raise bad_request("'model' is required: openmux/auto routes each request", "model")
    response_format = fields.get("response_format", "json")
    if response_format not in ("json", "text"):
        raise bad_request("'response_format' must be json or text", "response_format")
    transcript = await _answer(
        server,
        started,
        atranscribe(
            data,
            mime_type=upload.content_type or None,
            language=fields.get("language"),
            llm=server.chat,
            **_routing(server, fields, "audio"),
        ),
        param="file",
    )
    headers = answer_headers(transcript.metadata, started)
    if response_format == "text":
        return Response(transcript.text, media_type="text/plain", headers=headers)
    return json_response({"text": transcript.text}, headers=headers)
