"""The content parts of a served message, checked before any provider is asked.

A part no provider can read (an image data URL that is not base64, a recording in a
format none takes) would be refused by each provider in turn, or fail in this process
as it is converted for one, which the router cannot tell from the provider's fault.
An image given by anything but an http(s) URL or a data URL of an image is refused too:
the Ollama client would read a path as a file of this machine and send it on.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from openmux.providers import sniff_mime
from openmux.server._errors import bad_request

# What Whisper-style transcription and audio-reading chat models take between them.
AUDIO_FORMATS = frozenset(
    {"wav", "mp3", "mpeg", "mpga", "m4a", "mp4", "ogg", "opus", "webm", "flac", "aac", "aiff"}
)
_WEB_SCHEMES = ("http://", "https://")
_IMAGE_DATA = "data:image/"
_BASE64_MARK = ";base64"


def check_content(content: Any, where: str) -> None:
    """Refuse a media or text part of `content` (message `where`) no provider could read.
    A string or a shape LangChain's conversion refuses is left to that conversion."""
    if not isinstance(content, list):
        return
    for index, part in enumerate(content):
        check = _CHECKS.get(str(part.get("type"))) if isinstance(part, dict) else None
        if check is not None:
            check(part, f"{where}.content[{index}]")


def _text(part: dict[str, Any], where: str) -> None:
    if not isinstance(part.get("text"), str):
        raise bad_request(f"{where}.text must be a string", f"{where}.text")


def _image(part: dict[str, Any], where: str) -> None:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(url, str):
        raise bad_request(
            f"{where}.image_url must be an object with a 'url' string", f"{where}.image_url"
        )
    lowered = url[:16].lower()
    if lowered.startswith(_WEB_SCHEMES):
        return
    field = f"{where}.image_url.url"
    header, comma, data = url.partition(",")
    if not lowered.startswith(_IMAGE_DATA):
        raise bad_request(
            f"{field} must be an http(s) URL or a data URL (data:image/png;base64,...)", field
        )
    image_bytes = _decoded(data) if comma and header.lower().endswith(_BASE64_MARK) else None
    if image_bytes is None:
        raise bad_request(f"{field} is a data URL whose image is not base64", field)
    # The four formats OpenAI takes. Bytes of none are no picture, or a path that passes
    # for base64 ("///etc/hosts"), which the Ollama client would read from this machine.
    if not sniff_mime(image_bytes, "").startswith("image/"):
        raise bad_request(f"{field} holds no PNG, JPEG, GIF or WebP image", field)


def _audio(part: dict[str, Any], where: str) -> None:
    audio = part.get("input_audio")
    if not isinstance(audio, dict):
        raise bad_request(
            f"{where}.input_audio must be an object: {{'data': BASE64, 'format': 'wav'}}",
            f"{where}.input_audio",
        )
    if _decoded(audio.get("data")) is None:
        field = f"{where}.input_audio.data"
        raise bad_request(f"{field} must be the recording in base64", field)
    audio_format = audio.get("format")
    if audio_format is not None and not (
        isinstance(audio_format, str) and audio_format.lower() in AUDIO_FORMATS
    ):
        field = f"{where}.input_audio.format"
        raise bad_request(f"{field} must be one of {', '.join(sorted(AUDIO_FORMATS))}", field)


def _decoded(data: Any) -> bytes | None:
    """The bytes of non-empty base64 text, or None."""
    if not isinstance(data, str) or not data:
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


_CHECKS: dict[str, Callable[[dict[str, Any], str], None]] = {
    "text": _text,
    "image_url": _image,
    "input_audio": _audio,
}
