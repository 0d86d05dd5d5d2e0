"""Selection's capability filter: which models can do what a request needs, and, when
none is left, what each excluded model lacked and what would serve the request.

A request needs tools when tools are bound (with_structured_output's default method
binds one), `response_format` when it asks for JSON mode or a JSON schema, vision when
it holds an image, audio input when it holds a recording; and a client that can send
its media as given (images or recordings by URL, files: `openmux.providers.sends`). A model the
catalog marks without that capability, or whose protocol's client cannot send that
media, is left out of automatic selection; a model pinned by name is not filtered (the
caller chose it; the call gate rules out what its client cannot send).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from openmux.providers import MEDIA_FORMS, MediaForm, sends

if TYPE_CHECKING:
    from openmux.routing._plan import Pair

# Protocols whose in-process runtime (openmux.local) constrains tool calls and JSON
# answers with a grammar when its model is pinned by name.
_GRAMMAR_WHEN_PINNED = frozenset({"llamacpp"})


@dataclass(frozen=True)
class Needs:
    tools: bool = False
    response_format: bool = False
    media: frozenset[MediaForm] = frozenset()
    """The forms of media the conversation holds (`openmux.providers.media_forms`)."""


_IMAGES: frozenset[MediaForm] = frozenset({"image", "image URL"})
_RECORDINGS: frozenset[MediaForm] = frozenset({"audio", "audio URL"})

# capability (or a media form a client must send) -> what a model that has it can do
_CAN = {
    "tools": "call tools",
    "response_format": "take response_format",
    "vision": "read images",
    "hearing": "hear audio",
    "image URL": "be sent images given by URL",
    "image": "be sent images",
    "audio URL": "be sent recordings given by URL",
    "audio": "be sent recordings",
    "file": "be sent files or videos",
}

# capability -> why this request needs it
_BECAUSE = {
    "tools": "tools are bound to the request",
    "response_format": "it asks for JSON mode or a JSON schema",
    "vision": "it holds an image",
    "hearing": "it holds a recording",
    "image URL": "an image is given by URL",
    "image": "it holds an image",
    "audio URL": "a recording is given by URL",
    "audio": "it holds a recording",
    "file": "it holds a file or video",
}

# capability -> what the caller can do about it when no model has it
_INSTEAD = {
    "image URL": "send the image inline (base64, or a data URL): more models can read it",
    "audio URL": "send the recording inline (base64)",
    "hearing": 'for the recording\'s transcript instead, pass task="audio"',
}


def _lacks(pair: Pair, needs: Needs) -> str | None:
    """The first capability the request needs that this model lacks; None if it has all."""
    if needs.tools and not pair.entry.tools:
        return "tools"
    if needs.response_format and not pair.facts.json_mode:
        return "response_format"
    media = needs.media
    if media & _IMAGES and not pair.entry.vision:
        return "vision"
    if media & _RECORDINGS and "audio" not in pair.facts.inputs:
        return "hearing"
    protocol = pair.provider.protocol
    return next((form for form in MEDIA_FORMS if form in media and not sends(protocol, form)), None)


def capable_pairs(pairs: list[Pair], needs: Needs) -> tuple[list[Pair], dict[str, list[Pair]]]:
    """The pairs that can serve the request, and the others by the capability they lack."""
    capable: list[Pair] = []
    lacking: dict[str, list[Pair]] = {}
    for pair in pairs:
        missing = _lacks(pair, needs)
        if missing is None:
            capable.append(pair)
        else:
            lacking.setdefault(missing, []).append(pair)
    return capable, lacking


def explain_missing(
    lacking: dict[str, list[Pair]],
    *,
    structured: bool,
    unusable_hints: list[str],
) -> tuple[str, list[str]]:
    """Why nothing is left (one line naming the capability and who lacks it) and what
    would serve the request, for when every reachable model lacks a needed capability."""
    capability = next(iter(lacking))  # the first the request needs (tools, JSON, media)
    because = [_BECAUSE[c] for c in lacking]
    if structured and "tools" in lacking:
        because[0] = "with_structured_output's default method, function_calling, makes a tool call"
    left_out = ", ".join(
        f"{p.provider.name}:{p.entry.id}" + (f" (cannot {_CAN[c]})" if len(lacking) > 1 else "")
        for c, pairs in lacking.items()
        for p in pairs
    )
    needed = " and ".join(_CAN[c] for c in lacking)
    cause = f"no reachable model can {needed} ({'; '.join(because)}); left out: {left_out}"
    can = _CAN[capability]
    hints: list[str] = []
    if unusable_hints:
        others = "; `openmux doctor` lists the others" if len(unusable_hints) > 1 else ""
        hints.append(f"a free provider adds models that {can}: {unusable_hints[0]}{others}")
    if capability in ("tools", "response_format"):
        hints.extend(
            f'pin the bundled model for its grammar-constrained output: model="{p.provider.name}:'
            f'{p.entry.id}" (a small model: check its answers)'
            for p in lacking[capability]
            if p.provider.protocol in _GRAMMAR_WHEN_PINNED and p.provider.local
        )
    hints.extend(_INSTEAD[c] for c in lacking if c in _INSTEAD)
    if structured and capability == "tools" and any(p.facts.json_mode for p in lacking["tools"]):
        hints.append('or with_structured_output(schema, method="json_schema"): no tools needed')
    return cause, hints
