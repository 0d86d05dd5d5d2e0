"""Load: many concurrent `ainvoke` through OpenMux against a direct ChatOpenAI, same fake.

The fake providers run in their own process (`_fake.py`). For each concurrency (200,
500): a direct ChatOpenAI (max_retries=0) on one healthy provider, then OpenMux over
three healthy providers, then OpenMux with one of the three failing half its requests
(HTTP 500) next to the direct call on a healthy one. Each set-up runs in a fresh
process with a fresh state dir, after one warm-up call.

Goal: 100 % answered with healthy providers at 200 and 500 concurrent and throughput
>= 0.9x direct; with one provider failing 50 %, >= 99 % answered and p99 within 2x the
direct call's. Anchor (before): at 500 concurrent 43 % failed with NoProviderAvailable;
at 200, 5.4 % failed and throughput was 0.41x direct; with one provider failing half
its requests, 68 % answered, p50 9.95 s, 35 req/s against 49-52 direct.

    nice python benchmarks/load.py [--concurrency 200 500] [--rounds 3]

Measured (Dec 2026, a shared 2-core machine whose other work moves every figure; the fake
and the client compete for its cores, and OpenMux spends about 14.5 ms of CPU per
request here against 12.8 ms for the direct call). Four runs
of this code: 100 % answered in every set-up; healthy throughput 0.84-1.05x direct at
200 and 0.76-1.00x at 500 (0.95x and 1.00x on the two calmer runs); with one provider
failing 50 %, p99 1.4-1.7x the direct call's at 200 and 1.3-2.2x at 500. The code
before deadlines counted from sending, run in the same windows: at 500, 66 % answered
with the failing provider and 92.8 % with healthy ones (0.29x direct) while the machine
was busy (timeouts while its own event loop was too busy to read, which then benched
healthy providers), 1.17x on a calm run. On a quiet machine (load 1), `--rounds 3`:
1.18x (0.95-1.29x) at 200 and 0.86x (0.76-1.08x) at 500, p99 with the failing provider
1.3x and 1.5x; cProfile puts the same httpcore pool upkeep at the top of both clients.
Async provider calls then moved from httpcore to one aiohttp pool per event loop (the
direct ChatOpenAI keeps the SDK's default httpx2 client). `--rounds 3` on a busy machine
(load 4-5), this code and the code before it run back to back: healthy throughput 1.21x
direct (1.02-2.06x) at 200 and 1.65x (0.98-1.96x) at 500, OpenMux alone 89-99 and 54-74
req/s; before, 1.26x (0.79-1.78x) and 1.11x (0.81-1.34x), 65-87 and 41-57 req/s. With
one provider failing 50 %, p99 at 500 went from 14.4-19.2 s to 9.8-14.6 s; 100 %
answered in every set-up of both. With the merged server and Retry-After work, `--rounds
3` (load 2-3): 100 % answered everywhere; healthy throughput 1.71x direct (1.45-1.73x) at
200 and 1.88x (1.82-2.08x) at 500; with one provider failing 50 %, p99 0.8x (0.8-0.9x)
and 0.7x (0.7-0.9x) the direct call's. Once async calls moved from aiohttp to the
pool's own HTTP/1.1 client, `--rounds 1` (load about 2): 100 % answered everywhere;
healthy throughput 1.83x direct at 200 and 1.62x at 500, OpenMux alone 143 and 114 req/s;
with one provider failing 50 %, p99 0.6x and 0.8x the direct call's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fake import fake_server

_RUN = """
import asyncio, json, sys, time
setup, url, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
if setup == "direct":
    from langchain_openai import ChatOpenAI
    llm = ChatOpenAI(model="m-1", base_url=f"{url}/good/v1", api_key="unused", max_retries=0)
else:
    from openmux import ChatOpenMux, TaskClassification, TaskType
    names = ["bad", "good", "spare"] if setup == "failing" else ["good", "spare", "third"]
    config = {
        "router": {"providers": names},
        "providers": {
            n: {"protocol": "openai", "base_url": f"{url}/{n}/v1", "models": ["m-1"]}
            for n in names
        },
    }
    fixed = TaskClassification(TaskType.CHAT, 1.0, [], "bench")
    llm = ChatOpenMux(config=config, classifier=lambda _: fixed)

async def one():
    started = time.perf_counter()
    try:
        await llm.ainvoke("hello")
    except Exception as exc:
        return None, type(exc).__name__
    return time.perf_counter() - started, None

async def main():
    await llm.ainvoke("warm up")
    started = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(count)))
    return time.perf_counter() - started, results

elapsed, results = asyncio.run(main())
latencies = sorted(r[0] for r in results if r[0] is not None)
errors = {}
for _, error in results:
    if error:
        errors[error] = errors.get(error, 0) + 1
print(json.dumps({"elapsed": elapsed, "latencies": latencies, "errors": errors}))
"""


def _run(setup: str, url: str, count: int) -> dict[str, object]:
    env = {**os.environ, "OPENMUX_STATE_DIR": tempfile.mkdtemp(prefix="load-")}
    out = subprocess.run(
        [sys.executable, "-c", _RUN, setup, url, str(count)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _line(name: str, count: int, result: dict[str, object]) -> tuple[float, float]:
    latencies: list[float] = result["latencies"]  # type: ignore[assignment]
    elapsed = float(result["elapsed"])  # type: ignore[arg-type]
    answered = len(latencies)
    rate = answered / elapsed
    p50 = latencies[answered // 2] if latencies else float("nan")
    p99 = latencies[int(0.99 * (answered - 1))] if latencies else float("nan")
    print(
        f"  {name:<34} {answered:>4}/{count} answered ({100 * answered / count:5.1f} %)"
        f"  {rate:6.1f} req/s  p50 {p50:5.2f} s  p99 {p99:5.2f} s  errors {result['errors']}",
        flush=True,
    )
    return rate, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[200, 500])
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="alternate direct and OpenMux this many times; the ratios' median is the figure",
    )
    args = parser.parse_args()
    servers = [arg for name in ("good", "spare", "third", "bad") for arg in ("--provider", name)]
    with fake_server(*servers, "--model", "m-1", "--fault", "bad=flaky:0.5") as url:
        for count in args.concurrency:
            print(f"{count} concurrent ainvoke:")
            throughput, tail = [], []
            for _ in range(args.rounds):
                direct_rate, direct_p99 = _line(
                    "direct ChatOpenAI (one provider)", count, _run("direct", url, count)
                )
                rate, _ = _line(
                    "OpenMux, three healthy providers", count, _run("healthy", url, count)
                )
                _, p99 = _line(
                    "OpenMux, one of three failing 50 %", count, _run("failing", url, count)
                )
                throughput.append(rate / direct_rate)
                tail.append(p99 / direct_p99)
            print(
                f"  throughput {statistics.median(throughput):.2f}x direct (goal >= 0.9x);"
                f" p99 with a failing provider {statistics.median(tail):.1f}x direct's"
                " (goal <= 2x)"
                + (
                    f"; medians of {args.rounds} rounds, ranges"
                    f" {min(throughput):.2f}-{max(throughput):.2f}x and"
                    f" {min(tail):.1f}-{max(tail):.1f}x"
                    if args.rounds > 1
                    else ""
                )
            )
    print("anchor before: 500 concurrent 43 % failed; 200 concurrent 5.4 % failed at 0.41x")
    print("  direct; one provider failing 50 %: 68 % answered, p50 9.95 s, 35 vs 49-52 req/s")


if __name__ == "__main__":
    main()
