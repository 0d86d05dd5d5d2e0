"""Free-tier limits as data: per provider and model, dated and sourced.

Each row says how many requests and tokens a free account may use per minute and
per day, whether one counter is shared by all of a provider's free models
(OpenRouter's are), and when the day ends (UTC or Pacific midnight; minutes roll).
`[providers.X] limits = {rpm = 20, rpd = 50}` overrides a row field by field, and
limits learned from a provider's headers and 429 bodies (see `_learn`) refine it.

Figures change without notice: each row names where it was read and when. A row
the vendor's own pages no longer publish says so; the router then also learns the
real figure from the provider's answers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta, timezone
from functools import cache, cached_property
from types import MappingProxyType
from typing import Any, Literal

from openmux.config import LIMIT_KEYS as LIMIT_FIELDS

DayReset = Literal["utc", "pacific"]

CHECKED = "2026-12-04"


@dataclass(frozen=True)
class Limits:
    rpm: int | None = None
    rpd: int | None = None
    tpm: int | None = None
    tpd: int | None = None
    shared: bool = False
    """One counter for all of the provider's (free) models, rather than one per model."""
    reset: DayReset = "utc"
    """When the daily counters start again: midnight UTC or midnight US Pacific time."""
    free_models_only: bool = False
    """The limits bind only the provider's free models (OpenRouter's `:free` ids)."""
    source: str = ""

    @cached_property
    def any(self) -> bool:
        return any(getattr(self, name) is not None for name in LIMIT_FIELDS)

    def merged(self, changes: Mapping[str, Any]) -> Limits:
        known = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in changes.items() if k in known})

    def describe(self) -> str:
        parts = [f"{getattr(self, n)} {n}" for n in LIMIT_FIELDS if getattr(self, n) is not None]
        scope = "shared by its free models" if self.shared else "per model"
        return f"{', '.join(parts) or 'no counted limit'} ({scope}; days end {self.reset} midnight)"


PROVIDER_WIDE = "*"

_OPENROUTER = "https://openrouter.ai/docs/api/reference/limits"
_GROQ = "https://console.groq.com/docs/rate-limits"
_GEMINI = "https://ai.google.dev/gemini-api/docs/rate-limits"
_CEREBRAS = "https://inference-docs.cerebras.ai/support/rate-limits"
_CLOUDFLARE = "https://developers.cloudflare.com/workers-ai/platform/pricing/"
_MISTRAL = "https://docs.mistral.ai/deployment/laplateforme/tier/"
_NVIDIA = "https://build.nvidia.com/"

BUILTIN_LIMITS: Mapping[str, Mapping[str, Limits]] = MappingProxyType(
    {
        # 20 requests a minute and 50 a day over all ":free" models; 1,000 a day once
        # 10 credits were ever bought (GET /api/v1/key says which). Days end 00:00 UTC.
        "openrouter": {
            PROVIDER_WIDE: Limits(
                rpm=20,
                rpd=50,
                shared=True,
                free_models_only=True,
                source=f"{_OPENROUTER} (checked {CHECKED})",
            ),
        },
        # Per model and organisation; the response headers say "requests" for the day
        # and "tokens" for the minute.
        "groq": {
            "llama-3.3-70b-versatile": Limits(
                rpm=30, rpd=1000, tpm=12_000, tpd=100_000, source=f"{_GROQ} ({CHECKED})"
            ),
            "llama-3.1-8b-instant": Limits(
                rpm=30, rpd=14_400, tpm=6000, tpd=500_000, source=f"{_GROQ} ({CHECKED})"
            ),
            "meta-llama/llama-4-scout-17b-16e-instruct": Limits(
                rpm=30, rpd=1000, tpm=30_000, tpd=500_000, source=f"{_GROQ} ({CHECKED})"
            ),
        },
        # Per model; the free tier's daily requests were cut in December 2025 (2.5 Flash
        # 250 -> 20 a day). Google now shows per-project figures in AI Studio only, so
        # these are the last published ones; a 429's quotaId/quotaValue corrects them.
        "gemini": {
            PROVIDER_WIDE: Limits(reset="pacific", source=f"{_GEMINI} ({CHECKED})"),
            "gemini-2.5-flash": Limits(
                rpm=10, rpd=20, tpm=250_000, reset="pacific", source=f"{_GEMINI} ({CHECKED})"
            ),
            "gemini-2.0-flash": Limits(
                rpm=15, rpd=200, tpm=1_000_000, reset="pacific", source=f"{_GEMINI} ({CHECKED})"
            ),
        },
        # Per model; headers carry -day and -minute variants.
        "cerebras": {
            PROVIDER_WIDE: Limits(
                rpm=30, rpd=14_400, tpm=60_000, tpd=1_000_000, source=f"{_CEREBRAS} ({CHECKED})"
            ),
        },
        # The Experiment (free) plan: about one request a second and 500,000 tokens a
        # minute for the whole workspace.
        "mistral": {
            PROVIDER_WIDE: Limits(
                rpm=60, tpm=500_000, shared=True, source=f"{_MISTRAL} ({CHECKED})"
            ),
        },
        # 10,000 "neurons" a day for the whole account, reset 00:00 UTC. Neurons per
        # request depend on the model, so the allowance is not counted here: the
        # provider's "daily free allocation" error benches it until the reset.
        "cloudflare": {
            PROVIDER_WIDE: Limits(shared=True, source=f"{_CLOUDFLARE} ({CHECKED})"),
        },
        "nvidia": {
            PROVIDER_WIDE: Limits(rpm=40, shared=True, source=f"{_NVIDIA} ({CHECKED})"),
        },
    }
)


def table_limits(provider: str, model: str) -> Limits:
    """The table's row for the model, over its provider's default row."""
    rows = BUILTIN_LIMITS.get(provider)
    if not rows:
        return Limits()
    base = rows.get(PROVIDER_WIDE, Limits())
    row = rows.get(model)
    if row is None:
        return base
    return base.merged({f.name: getattr(row, f.name) for f in fields(row)})


# -- when counters free up ------------------------------------------------------------------


@cache
def _pacific() -> Any:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("America/Los_Angeles")
    except Exception:  # no time zone database on this machine: standard time is close enough
        return timezone(timedelta(hours=-8))


def day_start(now: float, reset: DayReset) -> float:
    """The epoch second the current quota day began."""
    zone = timezone.utc if reset == "utc" else _pacific()
    local = datetime.fromtimestamp(now, zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def next_reset(now: float | None, reset: DayReset) -> float:
    """The epoch second the next quota day begins."""
    now = time.time() if now is None else now
    zone = timezone.utc if reset == "utc" else _pacific()
    local = datetime.fromtimestamp(now, zone).replace(hour=0, minute=0, second=0, microsecond=0)
    # Add a day on the calendar, not 86,400 s: a Pacific day may be 23 or 25 hours long.
    following = (local + timedelta(days=1, hours=2)).replace(hour=0)
    return following.timestamp()
