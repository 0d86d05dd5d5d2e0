"""Turn whatever the caller passed into the parts the classifier looks at.

Accepted: a plain string, a LangChain ``PromptValue``, one ``BaseMessage``, a list
of messages (``BaseMessage`` objects, ``{"role", "content"}`` dicts, ``(role, text)``
tuples or bare strings), or a dict holding ``messages``/``input``.
Content may be a string or a list of content blocks (OpenAI and LangChain
standard forms); image and audio blocks are recorded as flags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_USER_ROLES = frozenset({"human", "user"})
_IMAGE_BLOCKS = frozenset({"image_url", "image", "input_image"})
_AUDIO_BLOCKS = frozenset({"input_audio", "audio"})


@dataclass
class Turn:
    """One message reduced to its role, its text and the media it carries."""

    role: str
    text: str
    images: int = 0
    audios: int = 0


@dataclass
class Request:
    """The decisive user turn plus the user turns before it (oldest first)."""

    text: str
    images: int = 0
    audios: int = 0
    earlier: list[str] = field(default_factory=list)
    earlier_images: int = 0
    earlier_audios: int = 0


def _block_kind(block: Mapping[str, Any]) -> str:
    kind = str(block.get("type", "")).lower()
    if kind in _IMAGE_BLOCKS:
        return "image"
    if kind in _AUDIO_BLOCKS:
        return "audio"
    if kind in {"file", "media", "input_file"}:
        mime = str(block.get("mime_type") or block.get("mimeType") or "").lower()
        if mime.startswith("image/"):
            return "image"
        if mime.startswith("audio/"):
            return "audio"
    return kind


def _content_to_turn(role: str, content: Any) -> Turn:
    if content is None:
        return Turn(role, "")
    if isinstance(content, str):
        return Turn(role, content)
    if isinstance(content, Mapping):
        content = [content]
    if not isinstance(content, Sequence):
        return Turn(role, str(content))
    texts: list[str] = []
    images = audios = 0
    for block in content:
        if isinstance(block, str):
            texts.append(block)
        elif isinstance(block, Mapping):
            kind = _block_kind(block)
            if kind == "image":
                images += 1
            elif kind == "audio":
                audios += 1
            elif kind == "text" or "text" in block:
                text = block.get("text")
                if isinstance(text, str):
                    texts.append(text)
    return Turn(role, "\n".join(texts), images, audios)


def _role_of(obj: Any) -> str:
    role = getattr(obj, "type", None) or getattr(obj, "role", None)
    return str(role or "human").lower()


def _to_turn(item: Any) -> Turn:
    if isinstance(item, str):
        return Turn("human", item)
    if isinstance(item, Mapping):
        role = str(item.get("role") or item.get("type") or "user").lower()
        return _content_to_turn(role, item.get("content", item.get("text")))
    if isinstance(item, tuple) and len(item) == 2:
        return _content_to_turn(str(item[0]).lower(), item[1])
    if hasattr(item, "content"):
        return _content_to_turn(_role_of(item), item.content)
    return Turn("human", str(item))


def _to_turns(obj: Any) -> list[Turn]:
    if type(obj) is list:  # the usual case, first: the probes below cost more than a turn
        return [_to_turn(m) for m in obj]
    if obj is None:
        return []
    if isinstance(obj, str):
        return [Turn("human", obj)]
    to_messages = getattr(obj, "to_messages", None)
    if callable(to_messages):  # PromptValue
        return [_to_turn(m) for m in to_messages()]
    if isinstance(obj, Mapping):
        if "messages" in obj:
            return _to_turns(obj["messages"])
        if "input" in obj and "content" not in obj:
            return _to_turns(obj["input"])
        return [_to_turn(obj)]
    if hasattr(obj, "content"):
        return [_to_turn(obj)]
    if isinstance(obj, Sequence):
        return [_to_turn(m) for m in obj]
    return [Turn("human", str(obj))]


def to_request(obj: Any) -> Request:
    """Pick the last user turn (or the last turn if no user spoke) and the earlier user turns."""
    turns = _to_turns(obj)
    users = [t for t in turns if t.role in _USER_ROLES]
    if not users:
        users = [t for t in turns if t.role not in {"system", "developer"}] or turns
    if not users:
        return Request("")
    last = users[-1]
    earlier = users[:-1]
    return Request(
        text=last.text,
        images=last.images,
        audios=last.audios,
        earlier=[t.text for t in earlier],
        earlier_images=sum(t.images for t in earlier),
        earlier_audios=sum(t.audios for t in earlier),
    )
