"""What the media functions return: the media itself, or a transcript, with the metadata."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from openmux.providers import MIME_SUFFIXES


@dataclass(frozen=True)
class Media:
    """An image or a sound: its bytes, mime type and `response_metadata["openmux"]`."""

    data: bytes = field(repr=False)
    mime_type: str
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def suffix(self) -> str:
        """The file suffix of its format (".png", ".wav", ".mp3", ...)."""
        return MIME_SUFFIXES.get(self.mime_type, ".bin")

    def save(self, path: str | Path) -> Path:
        """Write the bytes to `path` and return it."""
        target = Path(path).expanduser()
        target.write_bytes(self.data)
        return target

    def as_block(self) -> dict[str, Any]:
        """A standard LangChain content block (base64 + mime_type)."""
        kind = "image" if self.mime_type.startswith("image/") else "audio"
        encoded = base64.b64encode(self.data).decode("ascii")
        return {"type": kind, "base64": encoded, "mime_type": self.mime_type}


@dataclass(frozen=True)
class Transcript:
    """The text of a recording, and `response_metadata["openmux"]`."""

    text: str
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)

    def __str__(self) -> str:
        return self.text


def media_blocks(message: BaseMessage) -> list[dict[str, Any]]:
    """The image and audio content blocks of a message (standard or OpenAI-style)."""
    if isinstance(message.content, str):
        return []
    return [
        block
        for block in message.content
        if isinstance(block, dict) and block.get("type") in ("image", "audio")
    ]


def media_of(message: BaseMessage) -> list[Media]:
    """The media an answer holds, decoded."""
    metadata = dict(message.response_metadata.get("openmux") or {})
    found = []
    for block in media_blocks(message):
        encoded = block.get("base64") or block.get("data") or ""
        found.append(Media(base64.b64decode(encoded), str(block.get("mime_type")), metadata))
    return found


def first_media(message: AIMessage, what: str) -> Media:
    found = media_of(message)
    if not found:  # media models always answer with a block; a text model never does
        from openmux.errors import UnsupportedTask

        raise UnsupportedTask(what, f"the answer held no {what}: {message.text[:200]!r}")
    return found[0]
