"""Masking of anything key-shaped before text reaches a log, an error or the terminal."""

from __future__ import annotations

import re
import threading

_KEY_PATTERNS = re.compile(
    r"""(
        (?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}      # Authorization header values
      | sk-[A-Za-z0-9_-]{8,}                      # OpenAI-style keys, OpenRouter sk-or-...
      | gsk_[A-Za-z0-9]{8,}                       # Groq
      | hf_[A-Za-z0-9]{8,}                        # Hugging Face
      | nvapi-[A-Za-z0-9_-]{8,}                   # NVIDIA
      | AIza[A-Za-z0-9_-]{20,}                    # Google
      | gh[pousr]_[A-Za-z0-9]{16,}                # GitHub tokens
      | github_pat_[A-Za-z0-9_]{16,}
      | (?<=://)[^/\s@]+(?=@)                     # user:password (or a token) inside a URL
    )""",
    re.VERBOSE,
)

_known_secrets: set[str] = set()
_lock = threading.Lock()

MASK = "***"


def register_secret(value: str) -> None:
    """Remember a secret so that its exact text is masked wherever it appears."""
    if len(value) >= 6:
        with _lock:
            _known_secrets.add(value)


def url_credentials(url: str) -> list[str]:
    """The user name and password a URL carries (`https://user:pw@host`), for masking."""
    from urllib.parse import unquote, urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    secret = parts.password or parts.username  # a lone user name is a token
    return [secret, unquote(secret)] if secret else []


def redact(text: str) -> str:
    with _lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return _KEY_PATTERNS.sub(MASK, text)
