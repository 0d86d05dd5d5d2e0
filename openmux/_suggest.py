"""The fix to suggest for a misspelt key (shared by the config and privacy settings)."""

from __future__ import annotations

import difflib
from collections.abc import Collection


def unknown_key_fix(key: str, known: Collection[str]) -> str:
    """The closest known key, or the list of them all."""
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f"did you mean `{close[0]}`?" if close else f"known keys: {', '.join(sorted(known))}"
