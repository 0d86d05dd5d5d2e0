"""Fault scorecard: OpenMux (primary + fallback) against the sixteen injected faults of
failoverbench's scenario catalogue (methodology v0.1, github.com/failoverbench/failoverbench,
`scenarios/catalogue.yaml`), rewritten here as data; the wall is `_wall.py`.

Each scenario runs with a fresh state dir, once with a streamed caller (`stream`, as the
benchmark's LangChain adapter does) and once with an invoke caller. The verdicts:

    pass     rescued (the complete answer; for S13 a clean error) and every check clean
    partial  rescued, an advisory check failed
    safe     not rescued, but a bounded clean error and every required check clean
    fail     a required check failed, a hang, or a truncated answer presented as success

The anchors are the benchmark's published figures (results/full/SCORECARD.md, Sep 2026):
a careful plain httpx client 16 pass; LangChain `with_fallbacks` and LiteLLM's Router
9 pass, 3 partial, 4 safe, 0 fail; OpenMux before this work 6, 4, 5, 1 (streamed).

    python benchmarks/faults.py [--only S07,S15] [--caller stream|invoke|both]

Measured (Dec 2026, a shared 2-core machine): streamed 12 pass, 0 partial, 4 safe
(S08, S09, S10, S14: the stream broke after its first chunk had reached the caller, so
a clean `StreamInterrupted` is all that is left), 0 fail; invoke 16 pass. The same again
after the load work (deadlines counted from sending, loop-lag-aware timeouts). S01 then
passed or not by milliseconds: the hedge timer and the 2 s Retry-After fired together,
and a fast fallback raced in won. A candidate waiting out a short Retry-After is not
slow (its clock starts again at the retry's send); since then, with async calls on the
aiohttp pool: streamed 12 pass, 0 partial, 4 safe, 0 fail; invoke 16 pass. The same
once async calls moved from aiohttp to the pool's own HTTP/1.1 client.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _wall import ANSWER, Wall, running_wall

PROMPT = (
    "Explain in exactly sixty words why a gateway earns trust only when the provider "
    "behind it misbehaves."
)
FALLBACK = "fb-ok"
ANCHORS = {
    "plain httpx (careful)": (16, 0, 0, 0),
    "LangChain with_fallbacks": (9, 3, 4, 0),
    "LiteLLM Router": (9, 3, 4, 0),
    "OpenMux before (streamed)": (6, 4, 5, 1),
}


@dataclass(frozen=True)
class Check:
    kind: str
    value: float = 0.0
    window_s: float = 0.0
    advisory: bool = False
    informational: bool = False


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    model: str
    checks: tuple[Check, ...]
    max_wall_s: float = 45.0
    fallback: str = FALLBACK
    ideal: str = "success"


NO_HANG = Check("no_hang")
NO_TRUNCATED = Check("no_truncated_success")
ALIVE_AFTER = Check("alive_after")
SCENARIOS = (
    Scenario(
        "S01",
        "429 with Retry-After 2",
        "fb-s01-429-retry-after",
        (
            Check("attempts_primary_min", 2, advisory=True),
            Check("first_gap_min_s", 1.8, advisory=True),
            Check("max_attempts_within", 2, window_s=1.5),
        ),
        20,
    ),
    Scenario(
        "S02",
        "429 persistent, no Retry-After",
        "fb-s02-429-persistent",
        (Check("max_attempts_within", 4, window_s=3), Check("attempts_primary_max", 6), NO_HANG),
        40,
    ),
    Scenario(
        "S03",
        "500 once, then healthy",
        "fb-s03-500-then-200",
        (NO_HANG, Check("attempts_primary_min", 2, advisory=True)),
        20,
    ),
    Scenario(
        "S04",
        "503 persistent",
        "fb-s04-503-persistent",
        (Check("attempts_primary_max", 6), NO_HANG),
    ),
    Scenario("S05", "TCP reset before headers", "fb-s05-reset", (NO_HANG,), 20),
    Scenario(
        "S06",
        "no response at all",
        "fb-s06-no-response",
        (Check("wall_max_s", 100), NO_HANG, Check("attempts_primary_max", 1, advisory=True)),
        130,
    ),
    Scenario(
        "S07",
        "slow first token (20 s)",
        "fb-s07-slow-ttft",
        (NO_HANG, Check("wall_max_s", 15, advisory=True)),
        60,
    ),
    Scenario("S08", "stream cut mid-answer", "fb-s08-stream-cut", (NO_TRUNCATED, NO_HANG), 40),
    Scenario(
        "S09",
        "stream stalls 30 s",
        "fb-s09-stream-stall",
        (Check("wall_max_s", 45), NO_TRUNCATED, ALIVE_AFTER, NO_HANG),
        70,
    ),
    Scenario(
        "S10",
        "malformed chunk",
        "fb-s10-malformed-chunk",
        (ALIVE_AFTER, NO_TRUNCATED, NO_HANG, Check("complete", advisory=True)),
        30,
    ),
    Scenario(
        "S11",
        "stream ends without [DONE]",
        "fb-s11-no-done",
        (Check("wall_max_s", 8), Check("usage_present", advisory=True)),
        30,
    ),
    Scenario(
        "S12",
        "context length exceeded",
        "fb-s12-context-length",
        (Check("attempts_primary_eq", 1), NO_HANG),
        20,
    ),
    Scenario(
        "S13",
        "content-filter rejection",
        "fb-s13-content-filter",
        (
            Check("attempts_primary_eq", 1),
            NO_HANG,
            Check("fallback_used", advisory=True, informational=True),
        ),
        20,
        ideal="error",
    ),
    Scenario(
        "S14",
        "fallback rejects prefill",
        "fb-s14-stream-cut",
        (Check("no_prefill_masking"), NO_TRUNCATED),
        40,
        fallback="fb-ok-noprefill",
    ),
    Scenario(
        "S15",
        "primary flaps: 60 s down, then healthy",
        "fb-s15-flap",
        (Check("seq_no_hang"), Check("seq_served_during_outage"), Check("seq_recovered", 30)),
        200,
    ),
    Scenario(
        "S16",
        "fail-over accounting",
        "fb-s16-503-persistent",
        (
            Check("reported_model_is_fallback"),
            Check("usage_present", advisory=True),
            Check("attempts_primary_max", 6),
        ),
        40,
    ),
)
SEQUENCE = (20, 4.0, 30.0)  # requests, seconds apart, each within this many seconds


@dataclass
class Outcome:
    status: str  # success | error | hang
    content: str = ""
    model: str | None = None
    usage: bool = False
    error: str = ""
    seconds: float = 0.0


@dataclass
class Result:
    scenario: Scenario
    verdict: str
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""


# -- the OpenMux adapter ------------------------------------------------------------------


def _llm(base_url: str, scenario: Scenario, state: Path) -> Any:
    from openmux import ChatOpenMux, TaskClassification, TaskType

    os.environ["OPENMUX_STATE_DIR"] = str(state)
    fixed = TaskClassification(TaskType.CHAT, 1.0, [], "benchmark")
    config = {
        "router": {"providers": ["primary", "fallback"], "strategy": "ordered"},
        "providers": {
            "primary": {"protocol": "openai", "base_url": base_url, "models": [scenario.model]},
            "fallback": {"protocol": "openai", "base_url": base_url, "models": [scenario.fallback]},
        },
    }
    return ChatOpenMux(config=config, classifier=lambda _: fixed)


def _call(llm: Any, caller: str) -> Outcome:
    started = time.monotonic()
    try:
        if caller == "stream":
            chunks = list(llm.stream(PROMPT))
            message = chunks[0]
            for chunk in chunks[1:]:
                message += chunk
        else:
            message = llm.invoke(PROMPT)
    except Exception as exc:  # any error is the caller's outcome
        return Outcome("error", error=f"{type(exc).__name__}: {exc}"[:300])
    finally:
        elapsed = time.monotonic() - started
    meta = message.response_metadata.get("openmux", {})
    return Outcome(
        "success",
        content=message.text,
        model=meta.get("model"),
        usage=bool(message.usage_metadata),
        seconds=elapsed,
    )


def _bounded(llm: Any, caller: str, limit: float) -> Outcome:
    """The call, or "hang" when it is still running after `limit` s (left to finish alone)."""
    box: list[Outcome] = []
    started = time.monotonic()
    worker = threading.Thread(target=lambda: box.append(_call(llm, caller)), daemon=True)
    worker.start()
    worker.join(limit)
    if not box:
        return Outcome("hang", seconds=limit)
    outcome = box[0]
    outcome.seconds = time.monotonic() - started
    return outcome


# -- scoring --------------------------------------------------------------------------------


def _check(check: Check, scenario: Scenario, outcome: Outcome, wall: Wall, alive: bool) -> bool:
    primary = wall.attempts.get(scenario.model, [])
    fallback = wall.attempts.get(scenario.fallback, [])
    kind = check.kind
    if kind == "no_hang":
        return outcome.status != "hang"
    if kind == "complete":
        return outcome.status == "success" and outcome.content.strip() == ANSWER
    if kind == "no_truncated_success":
        return outcome.status != "success" or outcome.content.strip() == ANSWER
    if kind == "attempts_primary_min":
        return len(primary) >= check.value
    if kind == "attempts_primary_max":
        return len(primary) <= check.value
    if kind == "attempts_primary_eq":
        return len(primary) == check.value
    if kind == "first_gap_min_s":
        return len(primary) >= 2 and primary[1] - primary[0] >= check.value
    if kind == "max_attempts_within":
        return sum(1 for t in primary if t - primary[0] <= check.window_s) <= check.value
    if kind == "wall_max_s":
        return outcome.status != "hang" and outcome.seconds <= check.value
    if kind == "alive_after":
        return alive
    if kind == "fallback_used":
        return bool(fallback)
    if kind == "reported_model_is_fallback":
        return outcome.model == scenario.fallback
    if kind == "usage_present":
        return outcome.usage
    if kind == "no_prefill_masking":
        return not (outcome.status != "success" and wall.prefill_rejections)
    raise ValueError(f"unknown check {kind}")


def _verdict(scenario: Scenario, failed: list[Check], rescued: bool, hung: bool) -> str:
    scored = [c for c in failed if not c.informational]
    if hung or any(not c.advisory for c in scored):
        return "fail"
    if not rescued:
        return "safe"
    return "partial" if scored else "pass"


def run_scenario(base_url: str, wall: Wall, scenario: Scenario, caller: str) -> Result:
    state = Path(tempfile.mkdtemp(prefix="faults-"))
    llm = _llm(base_url, scenario, state)
    if scenario.id == "S15":
        return _run_sequence(llm, wall, scenario, caller)
    wall.reset()
    outcome = _bounded(llm, caller, scenario.max_wall_s)
    alive = False
    if any(c.kind == "alive_after" for c in scenario.checks):
        alive = _call(_llm(base_url, _healthy(scenario), state), caller).status == "success"
    failed = [c for c in scenario.checks if not _check(c, scenario, outcome, wall, alive)]
    truncated = outcome.status == "success" and outcome.content.strip() != ANSWER
    if scenario.ideal == "error":
        rescued = outcome.status == "error"
    else:
        rescued = outcome.status == "success" and not truncated
    verdict = _verdict(scenario, failed, rescued, outcome.status == "hang" or truncated)
    note = outcome.error.splitlines()[0][:90] if outcome.error else f"model {outcome.model}"
    return Result(scenario, verdict, [c.kind for c in failed], outcome.seconds, note)


def _healthy(scenario: Scenario) -> Scenario:
    return Scenario(scenario.id, scenario.title, FALLBACK, ())


def _run_sequence(llm: Any, wall: Wall, scenario: Scenario, caller: str) -> Result:
    count, interval, each = SEQUENCE
    wall.reset()
    outcomes: list[tuple[float, Outcome]] = []
    for number in range(count):
        due = wall.reset_at + number * interval
        time.sleep(max(0.0, due - time.monotonic()))
        sent = time.monotonic() - wall.reset_at
        outcomes.append((sent, _bounded(llm, caller, each)))
    failed: list[str] = []
    if any(o.status == "hang" for _, o in outcomes):
        failed.append("seq_no_hang")
    if any(o.status != "success" for sent, o in outcomes if sent < wall.outage_s):
        failed.append("seq_served_during_outage")
    back = [sent for sent, o in outcomes if sent >= wall.outage_s and o.model == scenario.model]
    recovered = back[0] - wall.outage_s if back else None
    if recovered is None or recovered > 30:
        failed.append("seq_recovered")
    verdict = "fail" if failed else "pass"
    note = "primary back after " + ("never" if recovered is None else f"{recovered:.0f} s")
    return Result(scenario, verdict, failed, sum(o.seconds for _, o in outcomes), note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated scenario ids")
    parser.add_argument("--caller", choices=("stream", "invoke", "both"), default="both")
    args = parser.parse_args()
    wanted = {s.strip().upper() for s in args.only.split(",") if s.strip()}
    scenarios = [s for s in SCENARIOS if not wanted or s.id in wanted]
    callers = ("stream", "invoke") if args.caller == "both" else (args.caller,)
    with running_wall() as (base_url, wall):
        for caller in callers:
            print(f"\n== OpenMux, {caller} caller ==")
            tally = {"pass": 0, "partial": 0, "safe": 0, "fail": 0}
            for scenario in scenarios:
                result = run_scenario(base_url, wall, scenario, caller)
                tally[result.verdict] += 1
                failed = f" [{', '.join(result.failed)}]" if result.failed else ""
                print(
                    f"{scenario.id} {scenario.title:<40} {result.verdict:<8}"
                    f"{result.seconds:6.1f} s  {result.note}{failed}",
                    flush=True,
                )
            print("score: " + " · ".join(f"{n} {v}" for v, n in tally.items()))
    print("\nanchors (published, streamed callers): pass · partial · safe · fail")
    for name, (p, pa, s, f) in ANCHORS.items():
        print(f"  {name:<28} {p} · {pa} · {s} · {f}")


if __name__ == "__main__":
    main()
