"""Paid list prices (US dollars per million tokens, in and out): what the free tokens
would have cost. Approximate, read from each vendor's own pricing page on the date
given; a model matches the first key its id contains (":free" and "org/" dropped)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

CHECKED = "2026-12-04"
_GROQ = "https://groq.com/pricing"
_GEMINI = "https://ai.google.dev/gemini-api/docs/pricing"
_MISTRAL = "https://mistral.ai/pricing"
_OPENROUTER = "https://openrouter.ai/models"

LIST_PRICES: Mapping[str, tuple[float, float, str]] = MappingProxyType(
    {
        "llama-3.3-70b": (0.59, 0.79, _GROQ),
        "llama-3.1-8b": (0.05, 0.08, _GROQ),
        "llama3.1-8b": (0.05, 0.08, _GROQ),
        "llama-4-scout": (0.11, 0.34, _GROQ),
        "gemini-2.5-flash": (0.30, 2.50, _GEMINI),
        "gemini-2.0-flash": (0.10, 0.40, _GEMINI),
        "mistral-small": (0.10, 0.30, _MISTRAL),
        "codestral": (0.30, 0.90, _MISTRAL),
        "mistral-nemo": (0.15, 0.15, _MISTRAL),
        "deepseek-chat-v3": (0.27, 1.10, _OPENROUTER),
        "qwen-2.5-coder-32b": (0.07, 0.16, _OPENROUTER),
        "qwen2.5-coder-32b": (0.07, 0.16, _OPENROUTER),
        "qwen-3-32b": (0.29, 0.59, _GROQ),
        "gemma-3-27b": (0.09, 0.17, _OPENROUTER),
    }
)


def list_price(model: str) -> tuple[float, float, str] | None:
    """(dollars per million input tokens, per million output tokens, source) or None."""
    bare = model.lower().removesuffix(":free").rsplit("/", 1)[-1]
    for key, price in LIST_PRICES.items():
        if key in bare:
            return price
    return None
