"""Fan-out wall time against its critical path: three members answer in parallel, so a
fan-out with a merging combiner should take about as long as the slowest member plus the
combiner's own call. Target: ratio <= 1.1.

Each provider is a fake server in its own process with its own latency (fast, mid, slow
members; one merging model). In the same run and with the same warm client, the script
times the slowest member alone and the combiner's call alone (the same merge prompt),
then the fan-out, and prints median wall times and the ratio, in sync and async use.

    python benchmarks/fanout.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fake import fake_server

from openmux import ChatOpenMux
from openmux.combiners import CombineJob, MemberAnswer
from openmux.combiners.summarize import aggregate_messages

RUNS = 9
LATENCY = {"fast": 0.10, "mid": 0.30, "slow": 0.60, "merger": 0.20}  # seconds
QUESTION = "Explain in two sentences why the sky is blue."


def _ms(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


async def _ams(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


def _merge_prompt() -> list[Any]:
    """The combiner's own prompt, as the fan-out builds it from three answers."""
    from langchain_core.messages import AIMessage, HumanMessage

    answers = [
        MemberAnswer(i, f"{name}:m-{name}", name, f"m-{name}", "ok", 0.0, AIMessage(content=text))
        for i, (name, text) in enumerate(
            (n, f"Hello from {n}! You said: {QUESTION}") for n in ("fast", "mid", "slow")
        )
    ]
    job = CombineJob(messages=[HumanMessage(QUESTION)], answers=answers, calls=None)  # type: ignore[arg-type]
    return aggregate_messages(job)


def main() -> None:
    with ExitStack() as stack:
        urls = {
            name: stack.enter_context(
                fake_server("--provider", name, "--model", f"m-{name}", "--latency", str(delay))
            )
            for name, delay in LATENCY.items()
        }
        config = {
            "router": {"providers": list(LATENCY)},
            "providers": {
                name: {
                    "protocol": "openai",
                    "base_url": f"{url}/{name}/v1",
                    "models": [f"m-{name}"],
                }
                for name, url in urls.items()
            },
        }
        os.environ["OPENMUX_STATE_DIR"] = tempfile.mkdtemp()
        llm = ChatOpenMux(config=config, task="chat")
        fan = llm.model_copy(
            update={
                "fanout": ["fast:m-fast", "mid:m-mid", "slow:m-slow"],
                "combiner": "summarize",
                "judge": "merger:m-merger",
            }
        )
        merge = _merge_prompt()

        def slowest() -> Any:
            return llm.invoke(QUESTION, model="slow:m-slow")

        def combiner() -> Any:
            return llm.invoke(merge, model="merger:m-merger")

        last: dict[str, Any] = {}

        def fanout() -> Any:
            last["message"] = fan.invoke(QUESTION)

        for call in (slowest, combiner, fanout):  # warm clients and connections
            call()

        sync: dict[str, list[float]] = {"slowest": [], "combiner": [], "fanout": []}
        for _ in range(RUNS):
            sync["slowest"].append(_ms(slowest))
            sync["combiner"].append(_ms(combiner))
            sync["fanout"].append(_ms(fanout))

        async def measure_async() -> dict[str, list[float]]:
            await fan.ainvoke(QUESTION)
            runs: dict[str, list[float]] = {"slowest": [], "combiner": [], "fanout": []}
            for _ in range(RUNS):
                runs["slowest"].append(
                    await _ams(lambda: llm.ainvoke(QUESTION, model="slow:m-slow"))
                )
                runs["combiner"].append(
                    await _ams(lambda: llm.ainvoke(merge, model="merger:m-merger"))
                )
                runs["fanout"].append(await _ams(lambda: fan.ainvoke(QUESTION)))
            return runs

        results = {"sync": sync, "async": asyncio.run(measure_async())}

    print(
        f"members: fast {LATENCY['fast']} s, mid {LATENCY['mid']} s, slow {LATENCY['slow']} s;"
        f" merging model {LATENCY['merger']} s (fake provider latency); median of {RUNS}"
    )
    for mode, runs in results.items():
        slow = statistics.median(runs["slowest"])
        comb = statistics.median(runs["combiner"])
        total = statistics.median(runs["fanout"])
        ratio = total / (slow + comb)
        verdict = "ok" if ratio <= 1.1 else "over target"
        print(
            f"{mode:5s}: slowest member {slow:6.1f} ms + combiner call {comb:6.1f} ms"
            f" = {slow + comb:6.1f} ms; fan-out {total:6.1f} ms; ratio {ratio:.3f}"
            f" (target <= 1.1: {verdict})"
        )
    meta = last["message"].response_metadata["openmux"]
    members = ", ".join(f"{m['provider']} {m['latency_ms']:.0f} ms" for m in meta["members"])
    merge_ms = meta["attempts"][-1]["latency_ms"]
    print(f"inside the last sync fan-out: members {members}; merge call {merge_ms:.0f} ms")


if __name__ == "__main__":
    main()
