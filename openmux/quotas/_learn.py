"""Limits a provider reveals: `x-ratelimit-*` headers and the bodies of its 429s.

Headers (on every response, the failures' too):
- Groq: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, where "requests"
  counts the day and "tokens" the minute; resets read like `2m59.56s`
  (https://console.groq.com/docs/rate-limits).
- Cerebras: the same names with `-day` and `-minute` on the end; resets in seconds
  (https://inference-docs.cerebras.ai/support/rate-limits).
- Anyone else speaking OpenAI's dialect: "requests" and "tokens" per minute.

429 bodies:
- Gemini: `error.details[]` holds a `QuotaFailure` whose violations name a `quotaId`
  (`GenerateRequestsPerDayPerProjectPerModel-FreeTier`) and maybe a `quotaValue`, and a
  `RetryInfo` with `retryDelay` ("43s"); days end at Pacific midnight.
- OpenRouter: `Rate limit exceeded: free-models-per-day` (or `-per-min`), with the
  `X-RateLimit-*` headers inside `error.metadata.headers`; one allowance for all
  `:free` models (https://openrouter.ai/docs/api/reference/limits).
- Groq: `... on requests per day (RPD): Limit 1000, Used 1000, Requested 1. Please try
  again in 1m26.4s.`
- Cloudflare Workers AI: `4006: you have used up your daily free allocation of 10,000
  neurons` (the whole account, until 00:00 UTC).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Which window a header without -day/-minute counts, where a provider differs from OpenAI.
BARE_HEADER_WINDOWS: Mapping[str, Mapping[str, str]] = {
    "groq": {"requests": "day", "tokens": "minute"},
}
_OPENAI_WINDOWS = {"requests": "minute", "tokens": "minute"}
_HEADER = re.compile(r"x-ratelimit-(limit|remaining|reset)-(requests|tokens)(?:-(minute|day))?$")
_LIMIT_NAMES = {
    ("requests", "minute"): "rpm",
    ("requests", "day"): "rpd",
    ("tokens", "minute"): "tpm",
    ("tokens", "day"): "tpd",
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_GROQ_BODY = re.compile(
    r"on (requests|tokens) per (minute|day) \([A-Z]+\): Limit (\d+)", re.IGNORECASE
)
_TRY_AGAIN = re.compile(r"(?:try again|retry) in ([0-9.hms]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Reading:
    """One limit as a response's headers state it."""

    limit_name: str  # rpm | rpd | tpm | tpd
    limit: int | None = None
    remaining: int | None = None
    reset_in: float | None = None


@dataclass(frozen=True)
class Exhausted:
    """A 429 saying an allowance is spent."""

    limit_name: str
    limit: int | None = None
    until: float | None = None
    """Epoch seconds it comes back; None: the next reset of the scope's day."""
    retry_in: float | None = None
    """Seconds the provider asked to wait (a per-minute limit)."""
    shared: bool = False
    """The provider's whole free allowance (all its free models), not this model's."""

    @property
    def daily(self) -> bool:
        return self.limit_name in ("rpd", "tpd")


def duration_seconds(text: str) -> float | None:
    """`2m59.56s`, `7.66s`, `1h2m`, `250ms` or plain seconds (`33011.38`)."""
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(a + b for a, b in parts) != text:
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(amount) * scale[unit] for amount, unit in parts)


# No provider's count comes near this; past it a float (how the text is read) no longer
# holds whole numbers exactly, and the counters' SQLite integers would soon overflow.
_MAX_COUNT = 2**53


def _int(value: Any) -> int | None:
    """A count (0 or more) a provider stated, or None: a negative, infinite or absurd one
    would shut a model out for good (learned limits persist) or break the counters."""
    try:
        number = float(str(value))
    except (TypeError, ValueError):
        return None
    if not 0 <= number <= _MAX_COUNT:  # NaN fails this too
        return None
    return int(number)


def readings_from_headers(provider: str, headers: Mapping[str, str]) -> list[Reading]:
    windows = BARE_HEADER_WINDOWS.get(provider, _OPENAI_WINDOWS)
    found: dict[str, dict[str, Any]] = {}
    for name, value in headers.items():
        match = _HEADER.match(name.lower())
        if match is None:
            continue
        part, unit, window = match.groups()
        limit_name = _LIMIT_NAMES[(unit, window or windows[unit])]
        fields = found.setdefault(limit_name, {})
        if part == "reset":
            fields["reset_in"] = duration_seconds(value)
        else:
            fields[part] = _int(value)
    return [Reading(name, **fields) for name, fields in found.items()]


def _error_object(body: Any) -> Mapping[str, Any]:
    if isinstance(body, list) and body:  # Gemini's OpenAI layer wraps the error in a list
        body = body[0]
    if not isinstance(body, Mapping):
        return {}
    error = body.get("error", body)
    return error if isinstance(error, Mapping) else {}


def exhaustion_from_failure(provider: str, body: Any, message: str, now: float) -> Exhausted | None:
    """What a 429's body says was used up, or None when it does not say."""
    error = _error_object(body)
    text = str(error.get("message") or message or "")
    details = error.get("details")
    if isinstance(details, list):
        found = _gemini(details)
        if found is not None:
            return found
    lowered = text.lower()
    if "free-models-per-" in lowered:
        return _openrouter(error, lowered)
    if "daily free allocation" in lowered:
        return Exhausted("rpd", shared=True)
    groq = _GROQ_BODY.search(text)
    if groq is not None:
        unit, window, limit = groq.groups()
        wait = _TRY_AGAIN.search(text)
        seconds = duration_seconds(wait.group(1).rstrip(".")) if wait else None
        until = now + seconds if seconds is not None and window.lower() == "day" else None
        return Exhausted(
            _LIMIT_NAMES[(unit.lower(), window.lower())],
            int(limit),
            until=until,
            retry_in=seconds if window.lower() == "minute" else None,
        )
    return None


def _gemini(details: list[Any]) -> Exhausted | None:
    quota_id, quota_value, retry_in = "", None, None
    for detail in details:
        if not isinstance(detail, Mapping):
            continue
        kind = str(detail.get("@type", ""))
        if kind.endswith("QuotaFailure"):
            for violation in detail.get("violations") or ():
                if not isinstance(violation, Mapping):
                    continue
                candidate = str(violation.get("quotaId", ""))
                # A day's violation outranks a minute's: it decides how long to wait.
                if candidate and ("PerDay" in candidate or not quota_id):
                    quota_id, quota_value = candidate, _int(violation.get("quotaValue"))
        elif kind.endswith("RetryInfo"):
            retry_in = duration_seconds(str(detail.get("retryDelay", "")))
    if not quota_id:
        return None
    tokens = "Token" in quota_id
    if "PerDay" in quota_id:
        return Exhausted("tpd" if tokens else "rpd", quota_value)
    return Exhausted("tpm" if tokens else "rpm", quota_value, retry_in=retry_in)


def _openrouter(error: Mapping[str, Any], lowered: str) -> Exhausted:
    metadata = error.get("metadata")
    headers = metadata.get("headers") if isinstance(metadata, Mapping) else None
    headers = (
        {str(k).lower(): v for k, v in headers.items()} if isinstance(headers, Mapping) else {}
    )
    limit = _int(headers.get("x-ratelimit-limit"))
    reset = _int(headers.get("x-ratelimit-reset"))
    until = reset / 1000.0 if reset is not None and reset > 1e12 else None
    if "free-models-per-day" in lowered:
        return Exhausted("rpd", limit, until=until, shared=True)
    return Exhausted("rpm", limit, until=until, shared=True)
