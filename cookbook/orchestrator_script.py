"""The standalone Orchestrator: a dict per answer, with how it was made."""

from __future__ import annotations

import json
from contextlib import ExitStack

from _setup import options

from openmux import NoProviderAvailable, Orchestrator, TaskType


def main() -> None:
    with ExitStack() as stack:
        orchestrator = Orchestrator(**options(stack))
        try:
            result = orchestrator.process("Write a Python function that reverses a string")
        except NoProviderAvailable as error:
            print(error)  # lists every attempt and what would fix it
            return
        print(result["response"])
        print(
            json.dumps(
                {k: result[k] for k in ("task", "provider", "model", "reasoning", "latency_ms")},
                indent=2,
            )
        )

        # The OpenMux 0.2 call forms still work:
        print(orchestrator.process("Sort a list in Rust", task_type=TaskType.CODE)["model"])


if __name__ == "__main__":
    main()
