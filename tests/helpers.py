"""Shared test helpers: settings that point OpenMux at fake providers."""

from __future__ import annotations

from typing import Any

from openmux.testing import FakeProvider


def provider_config(*providers: FakeProvider, protocol: str = "openai") -> dict[str, Any]:
    """A config dict (openmux.toml's shape) using exactly these fake providers, in order."""
    table: dict[str, Any] = {}
    for provider in providers:
        base_url = provider.ollama_base_url if protocol == "ollama" else provider.base_url
        table[provider.name] = {
            "protocol": protocol,
            "base_url": base_url,
            "models": list(provider.models),
            "embedding_models": list(provider.embedding_models),
        }
    return {"router": {"providers": [p.name for p in providers]}, "providers": table}
