"""The media a conversation holds, in the forms a client must send it, and which of those
forms each protocol's client can send.

Clients convert a message's content in this process and raise on a part they cannot
send before a byte leaves: the Ollama client takes images only inline (base64) and no
recordings, OpenAI's chat API recordings only inline, the in-process model text only.
Such a failure is no fault of the provider's, so the router asks `unsendable` first (a
pinned model is ruled out with its reason) and selection leaves those models out
(`sends`). Protocols without a row send every part on, for the provider to judge.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from openmux.config import ProviderSettings

MediaForm = Literal["image", "image URL", "audio", "audio URL", "file"]
"""An image inline (base64), an image given by URL (any but a data URL), a recording
inline, a recording given by URL (or by a file id), a file or a video."""

MEDIA_FORMS: tuple[MediaForm, ...] = ("image URL", "image", "audio URL", "audio", "file")

# protocol -> the forms its client sends (rows only for clients that refuse the rest)
SENDS_MEDIA: dict[str, frozenset[MediaForm]] = {
    "openai": frozenset({"image", "image URL", "audio", "file"}),
    "ollama": frozenset({"image"}),
    "llamacpp": frozenset(),
}

_CANNOT = {
    "image URL": "images given by URL, only inline ones (base64, or a data URL)",
    "image": "images",
    "audio URL": "recordings given by URL, only inline ones (base64)",
    "audio": "audio content blocks",
    "file": "file or video content blocks",
}


def _form(block: Any) -> MediaForm | None:
    if not isinstance(block, dict):
        return None
    kind = block.get("type")
    if kind == "image_url":
        image = block.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        inline = isinstance(url, str) and url[:5].lower() == "data:"
        return "image" if inline else "image URL"
    if kind == "image":
        inline = bool(block.get("base64")) or block.get("source_type") == "base64"
        return "image" if inline else "image URL"
    if kind == "input_audio":
        return "audio"
    if kind == "audio":
        inline = bool(block.get("base64")) or block.get("source_type") == "base64"
        return "audio" if inline else "audio URL"
    if kind in ("file", "video"):
        return "file"
    return None


def media_forms(messages: Iterable[BaseMessage]) -> frozenset[MediaForm]:
    """The forms of media anywhere in the conversation (an earlier turn's image or a tool
    result's is sent again with every request)."""
    found: set[MediaForm] = set()
    for message in messages:
        if isinstance(message.content, list):
            found.update(f for f in map(_form, message.content) if f is not None)
    return frozenset(found)


def sends(protocol: str, form: MediaForm) -> bool:
    """Whether the protocol's client can send media in this form."""
    sent = SENDS_MEDIA.get(protocol)
    return sent is None or form in sent


def unsendable(provider: ProviderSettings, forms: frozenset[MediaForm]) -> str | None:
    """Why the provider's client cannot send the conversation's media, or None."""
    for form in MEDIA_FORMS:
        if form in forms and not sends(provider.protocol, form):
            return f"the {provider.protocol} protocol of {provider.name} sends no {_CANNOT[form]}"
    return None
