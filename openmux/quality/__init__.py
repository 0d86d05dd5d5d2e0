"""Local quality: the bundled benchmark's scores and the user's votes, per task and model.

    openmux bench    asks the reachable models a small checkable set (chat, code) and
                     records accuracy, median latency and failures, dated
    votes            `openmux vote up|down`, `ChatOpenMux.feedback`, the playground's thumbs

`local_quality(task)` is what selection reads: it ranks by these before the catalog's
published scores and says so in the reason. Standard library only.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from openmux.quality._scores import (
    BENCH_TASKS,
    MAX_VOTE_SHIFT,
    VOTE_STEP,
    LocalQuality,
    UnknownRun,
    bench_task,
    local_quality,
    quality_version,
    remember_answer,
    run_key,
    vote,
)
from openmux.quality._store import Answer, BenchRow, QualityStore, quality_store

if TYPE_CHECKING:
    from openmux.quality._bench import (
        EvalItem,
        EvalSet,
        eval_set,
        grade,
        rows_as_json,
        run_bench,
    )
    from openmux.quality._plot import write_plot
    from openmux.quality._sandbox import SandboxResult, run_tests

# Only `openmux bench` needs these; selection and votes load without them.
_LAZY = {
    "EvalItem": "openmux.quality._bench",
    "EvalSet": "openmux.quality._bench",
    "eval_set": "openmux.quality._bench",
    "grade": "openmux.quality._bench",
    "rows_as_json": "openmux.quality._bench",
    "run_bench": "openmux.quality._bench",
    "write_plot": "openmux.quality._plot",
    "SandboxResult": "openmux.quality._sandbox",
    "run_tests": "openmux.quality._sandbox",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'openmux.quality' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "BENCH_TASKS",
    "MAX_VOTE_SHIFT",
    "VOTE_STEP",
    "Answer",
    "BenchRow",
    "EvalItem",
    "EvalSet",
    "LocalQuality",
    "QualityStore",
    "SandboxResult",
    "UnknownRun",
    "bench_task",
    "eval_set",
    "grade",
    "local_quality",
    "quality_store",
    "quality_version",
    "remember_answer",
    "rows_as_json",
    "run_bench",
    "run_key",
    "run_tests",
    "vote",
    "write_plot",
]
