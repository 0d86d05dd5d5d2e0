"""What a media model takes and makes: how large a recording a transcription model takes
(and how large the request's is), and the audio formats a speech model makes.

A provider refuses a file over its upload limit (OpenAI and Groq: 25 MB) only once it
has been read, encoded and sent whole; a model that cannot take it is skipped instead,
and a recording no model can take is refused before it is read (`openmux.media`).
Likewise a speech model that cannot make the format asked for is skipped, and a format
no model makes is refused before any is asked (`openmux.routing`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from openmux.config import DEFAULT_MEDIA_WIRES, MediaKind, MediaModel
from openmux.providers._media_wires import MEDIA_WIRES

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from openmux.config import ProviderSettings


def media_row(provider: ProviderSettings, model: str, kind: MediaKind) -> MediaModel:
    """`model`'s row in `provider`'s table, else a row speaking OpenAI's format for that
    media (an id the configuration lists and the table does not know)."""
    listed = (m for m in provider.media_models if m.id == model and m.makes == kind)
    return next(listed, MediaModel(model, kind, DEFAULT_MEDIA_WIRES[kind]))


def speech_formats(provider: ProviderSettings, model: str) -> tuple[str, ...]:
    """The audio formats speech model `model` at `provider` makes ("wav", "mp3", ...)."""
    row = media_row(provider, model, "speech")
    wire = MEDIA_WIRES.get(row.wire)
    return row.formats or (wire.formats if wire is not None else ())


def asked_formats(value: Any) -> tuple[str, ...]:
    """The audio formats a speech request asks for, preferred first: one name ("mp3") or
    several in order of preference; () for None (any format)."""
    if value is None or value == "":
        return ()
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(
        isinstance(name, str) and name.strip() for name in names
    ):
        raise ValueError(
            f"audio_format {value!r} is not a format's name (wav, mp3) or a list of them"
        )
    return tuple(dict.fromkeys(name.strip().lower() for name in names))


def recording_of(block: Mapping[str, Any]) -> Any:
    """The base64 recording of an audio content block: standard ("base64"), v0 ("data")
    or OpenAI's ("input_audio": {"data"}); None for any other block."""
    kind = block.get("type")
    if kind == "input_audio":
        return (block.get("input_audio") or {}).get("data")
    if kind == "audio":
        return block.get("base64") or block.get("data")
    return None


def recording_size(messages: Iterable[BaseMessage]) -> int:
    """The bytes of the recording the last user turn holds (0: none), from its base64's
    length: decoding hundreds of MB to learn their size would cost a copy of them."""
    turn = next((m for m in reversed(list(messages)) if m.type == "human"), None)
    if turn is None or isinstance(turn.content, str):
        return 0
    for block in turn.content:
        encoded = recording_of(block) if isinstance(block, dict) else None
        if isinstance(encoded, (str, bytes)):
            return len(encoded) * 3 // 4
    return 0


def largest_recording(provider: ProviderSettings, model: str) -> int | None:
    """The bytes of the largest recording `model` at `provider` takes (None: no known
    limit, as for a model the table does not list)."""
    return media_row(provider, model, "transcription").max_bytes


def megabytes(size: int, limit: int) -> tuple[str, str]:
    """`size` and `limit` in MB, with the decimals it takes to tell them apart."""
    for decimals in range(1, 7):
        shown = f"{size / 1_000_000:.{decimals}f} MB", f"{limit / 1_000_000:.{decimals}f} MB"
        if shown[0] != shown[1]:
            break
    return shown


def too_large_for(provider: ProviderSettings, model: str, size: int) -> str | None:
    """Why `model` cannot take a recording of `size` bytes, or None when it can."""
    limit = largest_recording(provider, model)
    if limit is None or size <= limit:
        return None
    size_mb, limit_mb = megabytes(size, limit)
    return f"the recording is {size_mb}; {provider.name}:{model} takes at most {limit_mb}"
