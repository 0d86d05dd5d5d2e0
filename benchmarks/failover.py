"""Failover cost, measured in fresh processes against a direct call to the healthy provider.

For each way the first provider can fail, a fresh process makes two calls; the
baseline is a fresh process that only knows the healthy provider.
Targets: first call <= 50 ms added for a dead / 500 / 429 / error-body /
garbage first provider; after a 429 the second call adds ~0 ms (the benched
provider gets no attempt); a hanging first provider costs <= hedge delay + 50 ms.
Last, 200 concurrent requests with a 30 % flaky first provider: all answered,
no unclosed-client or event-loop warnings.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fake import fake_server

RUNS = 7
HEDGE_MS = 300

_PROBE = """
import json, sys, time
import langchain_openai  # imported by both set-ups alike: keep its cost out of the figure
from openmux import ChatOpenMux, TaskClassification, TaskType
config = json.loads(sys.argv[1])
fixed = TaskClassification(TaskType.CHAT, 1.0, [], "bench")
llm = ChatOpenMux(config=config, classifier=lambda _: fixed)
timings, attempts = [], []
for _ in range(2):
    started = time.perf_counter()
    message = llm.invoke("hello")
    timings.append((time.perf_counter() - started) * 1000)
    meta = message.response_metadata["openmux"]
    assert meta["provider"] == "good", meta
    attempts.append([a["status"] for a in meta["attempts"]])
print(json.dumps({"ms": timings, "attempts": attempts}))
"""

_CONCURRENT = """
import asyncio, gc, json, sys, warnings
warnings.simplefilter("always")
from openmux import ChatOpenMux, TaskClassification, TaskType
config = json.loads(sys.argv[1])
fixed = TaskClassification(TaskType.CHAT, 1.0, [], "bench")
with warnings.catch_warnings(record=True) as caught:
    llm = ChatOpenMux(config=config, classifier=lambda _: fixed)
    async def main():
        calls = (llm.ainvoke("hi") for _ in range(200))
        results = await asyncio.gather(*calls, return_exceptions=True)
        return sum(1 for r in results if not isinstance(r, BaseException))
    answered = asyncio.run(main())
    gc.collect()
print(json.dumps({"answered": answered, "warnings": [str(w.message)[:120] for w in caught]}))
"""

FAULTS = {
    "refused": None,
    "http_500": "status:500",
    "http_429": "status:429:60",
    "error_in_200_body": "error_body",
    "garbage": "garbage",
    "hang_with_hedging": "hang",
}


def run(script: str, config: dict[str, object], state: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-W", "default", "-c", script, json.dumps(config)],
        check=True,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "OPENMUX_STATE_DIR": state},
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def provider(url: str) -> dict[str, object]:
    return {"protocol": "openai", "base_url": url, "models": ["m-1"]}


def main() -> None:
    specs = [f"bad_{name}={spec}" for name, spec in FAULTS.items() if spec]
    names = [arg for name in FAULTS for arg in ("--provider", f"bad_{name}")]
    args = [
        "--provider",
        "good",
        *names,
        "--model",
        "m-1",
        *[a for s in specs for a in ("--fault", s)],
    ]
    with fake_server(*args) as url:
        good = provider(f"{url}/good/v1")
        router = {"providers": ["good"], "hedge_after_ms": HEDGE_MS}
        baseline_runs = [
            run(_PROBE, {"router": router, "providers": {"good": good}}, tempfile.mkdtemp())
            for _ in range(RUNS)
        ]
        baseline = statistics.median(float(r["ms"][0]) for r in baseline_runs)  # type: ignore[index]
        baseline_second = statistics.median(float(r["ms"][1]) for r in baseline_runs)  # type: ignore[index]
        print(
            f"healthy provider only: first call {baseline:.1f} ms, second {baseline_second:.1f} ms"
            f" (median of {RUNS} fresh processes)"
        )
        for name in FAULTS:
            bad_url = "http://127.0.0.1:9/v1" if name == "refused" else f"{url}/bad_{name}/v1"
            config = {
                "router": {"providers": ["bad", "good"], "hedge_after_ms": HEDGE_MS},
                "timeouts": {"first_token": 20},
                "providers": {"bad": provider(bad_url), "good": good},
            }
            results = [run(_PROBE, config, tempfile.mkdtemp()) for _ in range(RUNS)]
            first = statistics.median(float(r["ms"][0]) for r in results)  # type: ignore[index]
            second = statistics.median(float(r["ms"][1]) for r in results)  # type: ignore[index]
            target = f"<= {HEDGE_MS + 50} ms" if name.startswith("hang") else "<= 50 ms"
            print(
                f"first provider {name:18s}: first call added {first - baseline:+7.1f} ms"
                f" (target {target}); second call added {second - baseline_second:+6.1f} ms;"
                f" attempts {results[0]['attempts']}"
            )
        flaky_args = [
            "--provider",
            "flaky",
            "--provider",
            "good",
            "--model",
            "m-1",
            "--fault",
            "flaky=flaky:0.3",
        ]
    with fake_server(*flaky_args) as url:
        config = {
            "router": {"providers": ["flaky", "good"]},
            "providers": {"flaky": provider(f"{url}/flaky/v1"), "good": provider(f"{url}/good/v1")},
        }
        result = run(_CONCURRENT, config, tempfile.mkdtemp())
        print(
            "200 concurrent ainvokes, 30 % flaky first provider:"
            f" {result['answered']}/200 answered,"
            f" warnings: {result['warnings'] or 'none'}"
        )


if __name__ == "__main__":
    main()
