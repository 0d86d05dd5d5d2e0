"""Added latency of ChatOpenMux over a direct ChatOpenAI call to the same loopback server.

Prints p50/p95 added milliseconds over 500 sequential invokes (classification
included) and the throughput ratio of 200 concurrent ainvokes, with this process's
CPU time per request in those bursts. Burst throughput swings by +-20 % from burst to
burst here (the fake server shares the two cores), so the ratio is the median of 15
interleaved bursts each (`--bursts N`); with 3 bursts, runs of the same code ranged 0.72x to 1.12x.
Targets: p50 added <= 1 ms; concurrent throughput >= 0.9x direct.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fake import fake_server
from pydantic import SecretStr

SEQUENTIAL = 500
CONCURRENT = 200
BURSTS = 15
PROMPT = "Explain recursion in one sentence"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bursts", type=int, default=BURSTS, help="concurrent bursts per side")
    bursts = parser.parse_args().bursts

    from langchain_openai import ChatOpenAI

    from openmux import ChatOpenMux

    with fake_server("--provider", "p", "--model", "m-1") as url:
        base_url = f"{url}/p/v1"
        direct = ChatOpenAI(
            base_url=base_url, model="m-1", api_key=SecretStr("sk-bench"), max_retries=0
        )
        mux = ChatOpenMux(
            config={
                "router": {"providers": ["p"]},
                "providers": {"p": {"protocol": "openai", "base_url": base_url, "models": ["m-1"]}},
            }
        )
        for _ in range(30):
            direct.invoke(PROMPT)
            mux.invoke(PROMPT)
        direct_ms: list[float] = []
        mux_ms: list[float] = []
        for _ in range(SEQUENTIAL):  # interleaved, so drift hits both alike
            started = time.perf_counter()
            direct.invoke(PROMPT)
            direct_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            mux.invoke(PROMPT)
            mux_ms.append((time.perf_counter() - started) * 1000)

        async def burst(model: ChatOpenAI | ChatOpenMux) -> tuple[float, float]:
            """Requests per second, and CPU milliseconds of this process per request."""
            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(model.ainvoke(PROMPT) for _ in range(CONCURRENT)))
            per_request_cpu = (time.process_time() - cpu) * 1000 / CONCURRENT
            return CONCURRENT / (time.perf_counter() - started), per_request_cpu

        async def throughput() -> tuple[tuple[float, float], tuple[float, float]]:
            await burst(direct)
            await burst(mux)
            direct_runs, mux_runs = [], []
            for _ in range(bursts):
                direct_runs.append(await burst(direct))
                mux_runs.append(await burst(mux))
            return _medians(direct_runs), _medians(mux_runs)

        (direct_rate, direct_cpu), (mux_rate, mux_cpu) = asyncio.run(throughput())

    p50_direct, p95_direct = percentile(direct_ms, 0.5), percentile(direct_ms, 0.95)
    p50_mux, p95_mux = percentile(mux_ms, 0.5), percentile(mux_ms, 0.95)
    print(f"sequential invokes: {SEQUENTIAL} each, interleaved")
    print(f"  direct ChatOpenAI  p50 {p50_direct:.3f} ms  p95 {p95_direct:.3f} ms")
    print(f"  ChatOpenMux        p50 {p50_mux:.3f} ms  p95 {p95_mux:.3f} ms")
    print(
        f"  added              p50 {p50_mux - p50_direct:+.3f} ms"
        f"  p95 {p95_mux - p95_direct:+.3f} ms"
        f"  (ratio p50 {p50_mux / p50_direct:.2f}x; target: p50 added <= 1 ms)"
    )
    print(f"concurrent ainvokes: {CONCURRENT} at once, median of {bursts} bursts")
    print(
        f"  direct {direct_rate:.0f} req/s, ChatOpenMux {mux_rate:.0f} req/s,"
        f" ratio {mux_rate / direct_rate:.2f}x (target >= 0.9x)"
    )
    print(
        f"  CPU per request: direct {direct_cpu:.2f} ms, ChatOpenMux {mux_cpu:.2f} ms"
        f" ({mux_cpu - direct_cpu:+.2f} ms)"
    )


def _medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r for r, _ in runs), statistics.median(c for _, c in runs)


if __name__ == "__main__":
    main()
