"""First-call latency in a fresh process whose first provider fails, against a fresh
process that only knows the healthy provider. Target: <= 50 ms added per fault kind.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fake import fake_server

RUNS = 7

_PROBE = """
import json, sys, time
from openmux import ChatOpenMux, TaskClassification, TaskType
config = json.loads(sys.argv[1])
fixed = TaskClassification(TaskType.CHAT, 1.0, [], "bench")
llm = ChatOpenMux(config=config, classifier=lambda _: fixed)
started = time.perf_counter()
message = llm.invoke("hello")
elapsed = (time.perf_counter() - started) * 1000
assert message.response_metadata["openmux"]["provider"] == "good", message.response_metadata
print(elapsed)
"""

FAULTS = {
    "refused": None,
    "http_500": "status:500",
    "http_429": "status:429",
    "error_in_200_body": "error_body",
    "garbage": "garbage",
}


def first_call_ms(config: dict[str, object]) -> float:
    runs = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", _PROBE, json.dumps(config)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        runs.append(float(out.strip().splitlines()[-1]))
    return statistics.median(runs)


def provider(url: str) -> dict[str, object]:
    return {"protocol": "openai", "base_url": url, "models": ["m-1"]}


def main() -> None:
    faults = [f"bad_{name}={spec}" for name, spec in FAULTS.items() if spec]
    names = [arg for name in FAULTS for arg in ("--provider", f"bad_{name}")]
    with fake_server(
        "--provider", "good", *names, "--model", "m-1", *[a for f in faults for a in ("--fault", f)]
    ) as url:
        good = provider(f"{url}/good/v1")
        baseline = first_call_ms({"router": {"providers": ["good"]}, "providers": {"good": good}})
        print(
            f"healthy provider only: first call {baseline:.1f} ms"
            f" (median of {RUNS} fresh processes)"
        )
        for name in FAULTS:
            bad_url = "http://127.0.0.1:9/v1" if name == "refused" else f"{url}/bad_{name}/v1"
            config = {
                "router": {"providers": ["bad", "good"]},
                "providers": {"bad": provider(bad_url), "good": good},
            }
            ms = first_call_ms(config)
            print(
                f"first provider {name:18s}: first call {ms:7.1f} ms,"
                f" added {ms - baseline:+6.1f} ms (target <= 50 ms)"
            )


if __name__ == "__main__":
    main()
