"""The bundled evaluation sets and how an answer is graded.

chat   questions with one checkable answer: "numeric" compares the reply's last number
       with the expected one; "exact" looks for the answer (or an alias) as whole words
       in the reply, ignoring case and punctuation. A copy of the question inside the
       reply is ignored.
code   a function to write; the reply's first code block runs against plain asserts in
       a sandboxed subprocess (see `_sandbox`).
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from openmux.quality._sandbox import run_tests
from openmux.quality._store import BenchRow

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_WORDS = re.compile(r"[^\w]+")
_CODE_BLOCK = re.compile(r"```(?:python|py)?[^\n]*\n(.*?)```", re.S | re.I)


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    answer: str = ""
    match: str = "exact"
    aliases: tuple[str, ...] = ()
    entry_point: str = ""
    tests: str = ""


@dataclass(frozen=True)
class EvalSet:
    task: str
    version: str
    instruction: str
    items: tuple[EvalItem, ...]

    def prompt(self, item: EvalItem) -> str:
        return f"{item.question}\n\n{self.instruction}"


@cache
def eval_set(task: str) -> EvalSet:
    """The bundled set for "chat" or "code"."""
    path = resources.files("openmux.quality") / "data" / f"{task}.json"
    text = path.read_text("utf-8")
    data = json.loads(text)
    items = tuple(
        EvalItem(**{**raw, "aliases": tuple(raw.get("aliases", ()))}) for raw in data["items"]
    )
    return EvalSet(task, data["version"], data["instruction"], items)


def _normalized(text: str) -> str:
    return " " + _WORDS.sub(" ", text.lower()).strip() + " "


def _last_number(text: str) -> float | None:
    numbers = _NUMBER.findall(re.sub(r"(?<=\d),(?=\d{3}\b)", "", text))
    return float(numbers[-1]) if numbers else None


def code_of(reply: str) -> str:
    """The first fenced code block of a reply, else the whole reply."""
    found = _CODE_BLOCK.search(reply)
    return found.group(1) if found else reply


def grade(task: str, item: EvalItem, reply: str, *, timeout: float = 10.0) -> tuple[bool, str]:
    """Is `reply` a correct answer to `item`? And, when not, a short reason."""
    if task == "code":
        run = run_tests(code_of(reply), item.tests, timeout=timeout)
        return run.passed, run.detail
    # A reply that repeats the question must not pass on the question's own words.
    reply = reply.replace(item.question, " ")
    if item.match == "numeric":
        found = _last_number(reply)
        expected = float(item.answer)
        if found is not None and abs(found - expected) <= 1e-6 * max(1.0, abs(expected)):
            return True, ""
        return False, f"expected {item.answer}, got {found if found is not None else 'no number'}"
    reply_words = _normalized(reply)
    for accepted in (item.answer, *item.aliases):
        if _normalized(accepted) in reply_words:
            return True, ""
    return False, f"expected {item.answer!r}"


@dataclass
class ModelResult:
    """One model's answers while a bench runs."""

    provider: str
    model: str
    correct: int = 0
    failures: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def row(self, task: str, questions: int, version: str, run_at: float) -> BenchRow:
        latency = statistics.median(self.latencies_ms) if self.latencies_ms else None
        return BenchRow(
            run_at,
            task,
            self.provider,
            self.model,
            questions,
            self.correct,
            self.failures,
            latency,
            version,
        )


Ask = Callable[[str, str, str], str]
"""ask(provider, model, prompt) -> the reply text; raises on a failed call."""


def run_bench(
    task: str,
    targets: Iterable[tuple[str, str]],
    ask: Ask,
    *,
    limit: int | None = None,
    failure_types: tuple[type[BaseException], ...] = (Exception,),
    progress: Callable[[str, str, EvalItem, bool, str], None] | None = None,
) -> list[BenchRow]:
    """Ask every target every question of the task's set (the first `limit`) and grade them.

    A call that raises one of `failure_types` counts as a failure (and a wrong answer);
    its latency is left out of the median."""
    evaluation = eval_set(task)
    items = evaluation.items[:limit] if limit else evaluation.items
    run_at = time.time()
    rows = []
    for provider, model in targets:
        result = ModelResult(provider, model)
        for item in items:
            started = time.perf_counter()
            try:
                reply = ask(provider, model, evaluation.prompt(item))
            except failure_types as exc:
                result.failures += 1
                ok, detail = False, f"failed: {type(exc).__name__}"
            else:
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
                ok, detail = grade(task, item, reply)
                result.correct += ok
            if progress is not None:
                progress(provider, model, item, ok, detail)
        rows.append(result.row(task, len(items), evaluation.version, run_at))
    return rows


def rows_as_json(rows: Iterable[BenchRow]) -> list[dict[str, Any]]:
    return [row.as_dict() for row in rows]
