"""Hangs: what a provider that accepts requests and never answers costs, call after call.

Set-up: "hung" (accepts, never answers) first, "good" second, a fresh state dir, default
settings (so the first hedge delay is the no-history default). The baseline is the same
process calling "good" alone. Then 8 requests a second for 15 s, sync and async, with
the hung provider first: their median latency, against the same load on "good" alone.

Goal: the first call adds about the first hedge delay (2 s); every later call <= 5 ms.
Anchor (before): +5.0 s on the first call and +5.0 s again on every later call; under
8 requests/s sync median latency went from 0.2 s to 8 s for 15 s.

    python benchmarks/hang.py

Measured (Dec 2026, a shared 2-core machine): first call +2.17 s, later calls +0.7 ms
(median of 30); again after the load work, +2.18 s and +2.0 ms. At 8 requests/s the
median stays within ~10 ms of the healthy one's, the p99 (about 5-6 s) being the single
request that probes the hung provider every 15 s. With async calls on the aiohttp pool:
+2.05 s, then +0.7 ms (worst later call 108 ms); at 8 requests/s, medians 11 ms (sync)
and 7 ms (async) against 6 ms with the good provider alone.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CALLS = 30
RATE = 8
SECONDS = 15


def _timed(llm: Any) -> float:
    started = time.perf_counter()
    llm.invoke("hi")
    return (time.perf_counter() - started) * 1000


def _paced_sync(llm: Any) -> list[float]:
    latencies: list[float] = []
    threads = []
    began = time.perf_counter()
    for number in range(RATE * SECONDS):
        thread = threading.Thread(target=lambda: latencies.append(_timed(llm)))
        thread.start()
        threads.append(thread)
        time.sleep(max(0.0, (number + 1) / RATE - (time.perf_counter() - began)))
    for thread in threads:
        thread.join()
    return latencies


async def _paced_async(llm: Any) -> list[float]:
    async def one() -> float:
        started = time.perf_counter()
        await llm.ainvoke("hi")
        return (time.perf_counter() - started) * 1000

    tasks = []
    began = time.perf_counter()
    for number in range(RATE * SECONDS):
        tasks.append(asyncio.ensure_future(one()))
        await asyncio.sleep(max(0.0, (number + 1) / RATE - (time.perf_counter() - began)))
    return list(await asyncio.gather(*tasks))


def main() -> None:
    os.environ["OPENMUX_STATE_DIR"] = tempfile.mkdtemp(prefix="hang-")
    from openmux import ChatOpenMux, TaskClassification, TaskType
    from openmux.testing import FakeProviderServer, Fault
    from tests.helpers import provider_config

    fixed = TaskClassification(TaskType.CHAT, 1.0, [], "benchmark")
    with FakeProviderServer() as server:
        hung = server.add_provider("hung", models=["h-1"], fault=Fault.hang())
        good = server.add_provider("good", models=["g-1"])

        def llm(*providers: Any, state: str) -> Any:
            os.environ["OPENMUX_STATE_DIR"] = tempfile.mkdtemp(prefix=f"hang-{state}-")
            return ChatOpenMux(config=provider_config(*providers), classifier=lambda _: fixed)

        direct = llm(good, state="direct")
        _timed(direct)  # warm the client pool and imports for both set-ups
        routed = llm(hung, good, state="routed")
        first = _timed(routed)
        baseline, calls = [], []
        for _ in range(CALLS):  # alternated, so both see the same machine
            baseline.append(_timed(direct))
            calls.append(_timed(routed))
        base = statistics.median(baseline)
        later = statistics.median(calls)
        print(f"good provider alone: {base:.1f} ms per call (median of {CALLS})")
        print(f"hung provider first: first call {first:.0f} ms (+{first - base:.0f} ms);")
        print(
            f"  later calls {later:.1f} ms median ({later - base:+.1f} ms),"
            f" worst {max(calls):.1f} ms"
        )
        print("  goal: first +~2000 ms (the hedge delay), later <= +5 ms;")
        print("  anchor before: +5000 ms on the first call and on every later call")

        paced = {"sync": _paced_sync, "async": lambda m: asyncio.run(_paced_async(m))}
        for name, run in paced.items():
            alone = statistics.median(run(llm(good, state=f"{name}-alone")))
            loaded = sorted(run(llm(hung, good, state=f"{name}-hung")))
            print(
                f"{RATE} requests/s for {SECONDS} s, {name}: median"
                f" {statistics.median(loaded):.0f} ms with the hung provider first,"
                f" {alone:.0f} ms with the good one alone;"
                f" p99 {loaded[int(0.99 * (len(loaded) - 1))]:.0f} ms"
            )
        print("  anchor before (sync): median 0.2 s alone, 8 s with the hung provider")
        hung.fault = None


if __name__ == "__main__":
    main()
