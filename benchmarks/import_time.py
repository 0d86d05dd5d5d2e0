"""Import cost of OpenMux against LangChain's own base imports, in fresh processes.

Targets (each <= 1.2x its baseline):
  `import openmux`                 vs `import langchain_core.language_models`
  `openmux --help`                 vs `import langchain_core.language_models`
  `from openmux import ChatOpenMux` vs `from langchain_core.language_models import BaseChatModel`
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 15


def fresh_process_ms(code: str) -> float:
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    help_code = (
        "from openmux.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    pairs = [
        ("import openmux", "import openmux", "import langchain_core.language_models"),
        ("openmux --help", help_code, "import langchain_core.language_models"),
        (
            "from openmux import ChatOpenMux",
            "from openmux import ChatOpenMux",
            "from langchain_core.language_models import BaseChatModel",
        ),
    ]
    empty = fresh_process_ms("pass")
    print(f"fresh interpreter alone: {empty:.1f} ms (median of {RUNS}; included in every figure)")
    for label, code, baseline_code in pairs:
        ours = fresh_process_ms(code)
        baseline = fresh_process_ms(baseline_code)
        print(
            f"{label:34s} {ours:7.1f} ms  baseline {baseline:7.1f} ms"
            f"  ratio {ours / baseline:.2f}x (target <= 1.2x)"
        )


if __name__ == "__main__":
    main()
