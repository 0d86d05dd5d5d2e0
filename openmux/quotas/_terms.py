"""What a free tier costs besides money: one line per provider for `init` and `doctor`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from openmux.config import RETIRED_PROVIDERS

if TYPE_CHECKING:
    from openmux.config import ProviderSettings

PROVIDER_TERMS: Mapping[str, str] = MappingProxyType(
    {
        # https://docs.together.ai/docs/billing-credits (checked 2026-12-04)
        "together": (
            "no free tier: Together needs a $5 minimum credit purchase before any call, "
            "so OpenMux uses it only with free_only = false"
        ),
        # Reported by users in 2026; the sign-up asks for a card, the docs do not say so.
        "cerebras": "its free tier now needs a payment card on file at sign-up",
        # https://help.mistral.ai/en/articles/455207 (checked 2026-12-04)
        "mistral": (
            "the free Experiment plan may train Mistral's models on your prompts and answers "
            "by default; opt out under Admin Console > Privacy"
        ),
        # https://ai.google.dev/gemini-api/docs/rate-limits (checked 2026-12-04)
        "gemini": (
            "free daily limits were cut in December 2025 and differ per model "
            "(2.5 Flash: 20 requests a day, reset at midnight Pacific time)"
        ),
        # https://developers.cloudflare.com/workers-ai/platform/pricing/ (checked 2026-12-04)
        "cloudflare": "10,000 free neurons a day for the whole account, reset at 00:00 UTC",
    }
)

RETIRED_KEY_ENVS: Mapping[str, str] = MappingProxyType({"GITHUB_MODELS_TOKEN": "github"})
"""Key variables of retired providers: still set, they deserve a word, not silence."""


def provider_notes(providers: Iterable[ProviderSettings], environ: Mapping[str, str]) -> list[str]:
    """What matters about these providers' free tiers, and about keys of retired ones."""
    notes = [f"{p.name}: {PROVIDER_TERMS[p.name]}" for p in providers if p.name in PROVIDER_TERMS]
    for env_name, retired in RETIRED_KEY_ENVS.items():
        if environ.get(env_name):
            notes.append(f"{env_name} is set, but {RETIRED_PROVIDERS[retired]}")
    return notes
