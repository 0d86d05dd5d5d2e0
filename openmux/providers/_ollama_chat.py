"""The Ollama chat model, handing its client each image as bytes.

Given a string, the ollama client first looks for a file of that name on this machine
and sends the file's bytes as the picture; "///etc/hosts" is base64 as well, so inline
image text a caller passed on could send any readable file to the provider. Decoded
here, an image is sent as the caller wrote it, and one that is not base64 is the
caller's mistake, refused before anything is sent.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_ollama import ChatOllama

from openmux.errors import InvalidRequest

_WHITESPACE = re.compile(r"\s+")


class InlineImagesOllama(ChatOllama):
    def _convert_messages_to_ollama_messages(self, messages: list[BaseMessage]) -> Sequence[Any]:
        converted = super()._convert_messages_to_ollama_messages(messages)
        for message in converted:
            if isinstance(message, dict) and message.get("images"):
                message["images"] = [_image_bytes(image) for image in message["images"]]
        return converted


def _image_bytes(image: Any) -> bytes:
    if isinstance(image, bytes):
        return image
    try:
        return base64.b64decode(_WHITESPACE.sub("", str(image)), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest(
            "an image in the conversation is not base64: send it inline as base64 "
            "(or a data URL: data:image/png;base64,...)"
        ) from exc
