"""Local quality: the bundled benchmark's scores and the user's votes, per task and model.

    openmux bench    asks the reachable models a small checkable set (chat, code) and
                     records accuracy, median latency and failures, dated
    votes            `openmux vote up|down`, `ChatOpenMux.feedback`, the playground's thumbs

`local_quality(task)` is what selection reads: it ranks by these before the catalog's
published scores and says so in the reason. Standard library only.
"""

from openmux.quality._bench import EvalItem, EvalSet, eval_set, grade, rows_as_json, run_bench
from openmux.quality._plot import write_plot
from openmux.quality._sandbox import SandboxResult, run_tests
from openmux.quality._scores import (
    BENCH_TASKS,
    MAX_VOTE_SHIFT,
    VOTE_STEP,
    LocalQuality,
    UnknownRun,
    bench_task,
    local_quality,
    remember_answer,
    run_key,
    vote,
)
from openmux.quality._store import Answer, BenchRow, QualityStore, quality_store

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
    "remember_answer",
    "rows_as_json",
    "run_bench",
    "run_key",
    "run_tests",
    "vote",
    "write_plot",
]
