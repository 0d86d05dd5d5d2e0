"""Added latency of ChatOpenMux over a direct ChatOpenAI call to the same loopback server.

Prints p50/p95 added milliseconds over 500 sequential invokes (classification
included) and the throughput ratio of 200 concurrent ainvokes.
Targets: p50 added <= 1 ms; concurrent throughput >= 0.9x direct.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fake import fake_server

SEQUENTIAL = 500
CONCURRENT = 200
PROMPT = "Explain recursion in one sentence"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    from langchain_openai import ChatOpenAI

    from openmux import ChatOpenMux

    with fake_server("--provider", "p", "--model", "m-1") as url:
        base_url = f"{url}/p/v1"
        direct = ChatOpenAI(base_url=base_url, model="m-1", api_key="sk-bench", max_retries=0)
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

        async def burst(model: ChatOpenAI | ChatOpenMux) -> float:
            started = time.perf_counter()
            await asyncio.gather(*(model.ainvoke(PROMPT) for _ in range(CONCURRENT)))
            return CONCURRENT / (time.perf_counter() - started)

        async def throughput() -> tuple[float, float]:
            await burst(direct)
            await burst(mux)
            direct_rates, mux_rates = [], []
            for _ in range(3):
                direct_rates.append(await burst(direct))
                mux_rates.append(await burst(mux))
            return statistics.median(direct_rates), statistics.median(mux_rates)

        direct_rate, mux_rate = asyncio.run(throughput())

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
    print(f"concurrent ainvokes: {CONCURRENT} at once, median of 3 bursts")
    print(
        f"  direct {direct_rate:.0f} req/s, ChatOpenMux {mux_rate:.0f} req/s,"
        f" ratio {mux_rate / direct_rate:.2f}x (target >= 0.9x)"
    )


if __name__ == "__main__":
    main()
