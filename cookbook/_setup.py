"""Shared by the examples: real providers by default, loopback fakes with --fake."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from typing import Any


def options(stack: ExitStack) -> dict[str, Any]:
    """Constructor options for ChatOpenMux / Orchestrator."""
    if "--fake" not in sys.argv:
        return {}
    from openmux.testing import FakeProviderServer

    server = stack.enter_context(FakeProviderServer())
    provider = server.add_provider("fake", models=["fake-model"])
    return {
        "config": {
            "router": {"providers": ["fake"]},
            "providers": {
                "fake": {
                    "protocol": "openai",
                    "base_url": provider.base_url,
                    "models": ["fake-model"],
                }
            },
        }
    }
