"""OpenAI's chat `audio` ({"voice", "format"}) and `modalities`, checked as OpenAI checks
them, before any provider is asked.

A chat request answered by a speech model (`openmux/tts`, or speech the classifier found)
is spoken in that voice and format. The format is a capability, as on /v1/audio/speech:
a model that cannot make it is skipped, since chat audio carries no mime type that could
tell the client it got another one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openmux.server._errors import bad_request

_MODALITIES = ("text", "audio")
_CHAT_AUDIO_FORMATS = ("wav", "mp3", "flac", "opus", "pcm16")
"""The formats OpenAI's chat `audio.format` takes (a speech model may make fewer)."""


def audio_options(body: Mapping[str, Any]) -> dict[str, Any]:
    """The speech model's `voice` and `audio_format` the request asks for ({}: none)."""
    modalities = body.get("modalities")
    if modalities is not None and not (
        isinstance(modalities, list) and modalities and all(m in _MODALITIES for m in modalities)
    ):
        raise bad_request("'modalities' must be a list of text and audio", "modalities")
    audio = body.get("audio")
    if audio is None:
        if modalities and "audio" in modalities:
            raise bad_request(
                "'audio' is required when 'modalities' holds audio: "
                '{"voice": "alloy", "format": "mp3"}',
                "audio",
            )
        return {}
    if not isinstance(audio, dict):
        raise bad_request(
            '\'audio\' must be an object: {"voice": "alloy", "format": "mp3"}', "audio"
        )
    voice = audio.get("voice")
    if not isinstance(voice, str) or not voice.strip():
        raise bad_request("'audio.voice' must be a string: the model's voice name", "audio.voice")
    audio_format = audio.get("format")
    if audio_format not in _CHAT_AUDIO_FORMATS:
        raise bad_request(
            f"'audio.format' must be one of {', '.join(_CHAT_AUDIO_FORMATS)}", "audio.format"
        )
    return {"voice": voice, "audio_format": audio_format}
