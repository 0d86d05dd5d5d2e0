"""What makes a text one a provider can be sent: JSON bodies are UTF-8."""

from __future__ import annotations

import re

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class _LoneSurrogate(UnicodeEncodeError):
    """A text no UTF-8 body can carry, named where the caller gave it (a UnicodeEncodeError
    still, as encoding it would have raised, with a message that says what to do)."""

    def __init__(self, text: str, start: int, where: str) -> None:
        super().__init__("utf-8", text, start, start + 1, "surrogates not allowed")
        self.where = where

    def __str__(self) -> str:
        return (
            f"{self.where} holds {self.object[self.start]!r} at character {self.start}, a "
            "lone surrogate, which no request can carry: it comes from bytes that are not "
            "UTF-8; decode them with errors='replace'"
        )


def refuse_lone_surrogate(text: str, where: str) -> None:
    """Raise UnicodeEncodeError for a text holding a lone surrogate (what
    `errors="surrogateescape"` makes of bytes that are not UTF-8: a file or an argument
    read as text), named here rather than as it is encoded, at a position in a body the
    caller never saw."""
    found = _LONE_SURROGATE.search(text)
    if found is not None:
        raise _LoneSurrogate(text, found.start(), where)
