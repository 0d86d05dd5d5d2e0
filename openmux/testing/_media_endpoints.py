"""The media endpoints of the fake server, one per wire format OpenMux speaks:

- OpenAI: `/v1/images/generations` (b64_json or url, see `p.image_response`),
  `/v1/audio/speech` (binary WAV or MP3), `/v1/audio/transcriptions` (multipart).
- Cloudflare Workers AI: `/client/v4/accounts/ID/ai/run/MODEL` (JSON holding base64
  media or the transcript, or binary audio for Aura; raw audio bytes in for Whisper).
- Gemini: `/v1beta/models/MODEL:generateContent` answering base64 PCM.
- Hugging Face Inference: `/hf-inference/models/MODEL` (raw image bytes out, raw audio in).

Images are real PNGs of the requested size (Cloudflare's flux: a JPEG, as it sends);
speech lasts `speech_seconds(text)`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote

from openmux.testing import _media
from openmux.testing._connection import Connection
from openmux.testing._faults import Fault

DEFAULT_IMAGE_SIZE = (64, 64)


def _size(value: Any) -> tuple[int, int]:
    width, _, height = str(value or "").lower().partition("x")
    if width.isdigit() and height.isdigit():
        return int(width), int(height)
    return DEFAULT_IMAGE_SIZE


class MediaEndpoints(Connection):
    _raw_body: bytes = b""  # the request body as sent (set by the handler)

    def _image_bytes(self, width: int, height: int) -> bytes:
        return _media.png(width, height, seed=len(self.provider.requests) % 256)

    # -- OpenAI ---------------------------------------------------------------------------

    def _openai_image(self, body: dict[str, Any], fault: Fault | None) -> None:
        if not str(body.get("prompt") or "").strip():
            self._error(400, "prompt is required")
            return
        image = self._image_bytes(*_size(body.get("size")))
        p = self.provider
        if p.image_response == "url":
            name = f"image-{len(p.files)}.png"
            p.files[name] = image
            item = {"url": f"{p.url}/files/{name}"}
        else:
            item = {"b64_json": base64.b64encode(image).decode("ascii")}
        self._json(200, {"created": 0, "data": [item]})

    def _openai_speech(self, body: dict[str, Any], fault: Fault | None) -> None:
        text = str(body.get("input") or "")
        if not text.strip() or not body.get("voice"):
            self._error(400, "input and voice are required")
            return
        seconds = _media.speech_seconds(text)
        if body.get("response_format") == "mp3":
            self._send(200, _media.mp3(seconds), "audio/mpeg")
        else:
            self._send(200, _media.wav(seconds), "audio/wav")

    def _openai_transcription(self, body: dict[str, Any], fault: Fault | None) -> None:
        form = _media.multipart_form(self.headers.get("Content-Type", ""), self._raw_body)
        upload = form.get("file")
        if upload is None or not upload[1] or "model" not in form:
            self._error(400, "multipart fields file and model are required")
            return
        self._json(200, {"text": self.provider.transcript})

    def _file(self, body: dict[str, Any], fault: Fault | None) -> None:
        data = self.provider.files.get(self.path.rsplit("/", 1)[-1])
        if data is None:
            self._error(404, "no such file")
        else:
            self._send(200, data, "image/png")

    # -- Cloudflare Workers AI ------------------------------------------------------------

    def _cloudflare_error(self, status: int, message: str) -> None:
        self._json(
            status,
            {"result": None, "success": False, "errors": [{"code": 5006, "message": message}]},
        )

    def _cloudflare_ok(self, result: dict[str, Any]) -> None:
        self._json(200, {"result": result, "success": True, "errors": [], "messages": []})

    def _cloudflare_run(self, body: dict[str, Any], fault: Fault | None) -> None:
        model = unquote(self.path.split("/ai/run/", 1)[-1])
        if "whisper" in model:
            audio = self._raw_body
            if body:  # whisper-large-v3-turbo: {"audio": base64}
                try:
                    audio = base64.b64decode(str(body.get("audio", "")), validate=True)
                except (binascii.Error, ValueError):
                    audio = b""
            if not audio:
                self._cloudflare_error(400, "AiError: audio is required")
                return
            self._cloudflare_ok({"text": self.provider.transcript, "word_count": 2})
            return
        if "melotts" in model:
            audio = _media.mp3(_media.speech_seconds(str(body.get("prompt", ""))))
            self._cloudflare_ok({"audio": base64.b64encode(audio).decode("ascii")})
            return
        if "aura" in model:
            self._send(
                200, _media.mp3(_media.speech_seconds(str(body.get("text", "")))), "audio/mpeg"
            )
            return
        if not str(body.get("prompt") or "").strip():
            self._cloudflare_error(400, "AiError: prompt is required")
            return
        if "flux" in model:  # flux-1-schnell answers a base64 JPEG and takes no size
            image = _media.jpeg(*DEFAULT_IMAGE_SIZE, seed=len(self.provider.requests) % 256)
        else:
            image = self._image_bytes(*DEFAULT_IMAGE_SIZE)
        self._cloudflare_ok({"image": base64.b64encode(image).decode("ascii")})

    # -- Gemini ---------------------------------------------------------------------------

    def _gemini_generate(self, body: dict[str, Any], fault: Fault | None) -> None:
        try:
            text = body["contents"][0]["parts"][0]["text"]
        except (KeyError, IndexError, TypeError):
            self._error(400, "contents[0].parts[0].text is required")
            return
        data = base64.b64encode(_media.pcm(_media.speech_seconds(text))).decode("ascii")
        part = {"inlineData": {"mimeType": "audio/L16;codec=pcm;rate=24000", "data": data}}
        self._json(200, {"candidates": [{"content": {"role": "model", "parts": [part]}}]})

    # -- Hugging Face Inference -----------------------------------------------------------

    def _hf_run(self, body: dict[str, Any], fault: Fault | None) -> None:
        if body:  # text-to-image: {"inputs": prompt, "parameters": {"width", "height"}}
            parameters = body.get("parameters") or {}
            width, height = DEFAULT_IMAGE_SIZE
            self._send(
                200,
                self._image_bytes(
                    int(parameters.get("width", width)), int(parameters.get("height", height))
                ),
                "image/png",
            )
            return
        if not self._raw_body:
            self._error(400, "send the audio's bytes")
            return
        self._json(200, {"text": self.provider.transcript})
