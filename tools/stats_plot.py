"""Make the README's `openmux stats` chart (docs/stats.svg) from a real run against the
loopback fake: three providers, the first with `rpm = 5`, the second failing now and
then, 40 questions in under a minute. Prints the terminal view of the same data.

    python tools/stats_plot.py [--out docs/stats.svg]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from pathlib import Path

QUESTIONS = 40
ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "stats.svg")
    out = parser.parse_args().out

    with tempfile.TemporaryDirectory() as state:
        os.environ["OPENMUX_STATE_DIR"] = state
        from openmux import ChatOpenMux, NoProviderAvailable, usage
        from openmux.cli._stats import render_text, write_plot
        from openmux.config import load_settings
        from openmux.testing import FakeProviderServer, Fault

        with FakeProviderServer() as server:
            first = server.add_provider("fast", models=["llama-3.3-70b-versatile"])
            second = server.add_provider("flaky", models=["gemini-2.5-flash"])
            third = server.add_provider("steady", models=["mistral-small-latest"])
            second.fault = Fault.flaky(0.25, seed=3, fault=Fault.status(503))
            config = {
                "router": {"providers": ["fast", "flaky", "steady"], "strategy": "ordered"},
                "providers": {
                    p.name: {"protocol": "openai", "base_url": p.base_url, "models": p.models}
                    for p in (first, second, third)
                },
            }
            config["providers"]["fast"]["limits"] = {"rpm": 5}
            llm = ChatOpenMux(config=config)
            for number in range(QUESTIONS):
                with contextlib.suppress(NoProviderAvailable):
                    llm.invoke(f"Question {number}: what is {number} squared?")
            data = usage("1h", settings=load_settings(config))
        print(render_text(data, "1h"))
        write_plot(out, data, "openmux stats: 40 questions, the first provider at rpm = 5")
        print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
