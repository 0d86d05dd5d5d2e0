"""What local evidence says about a model: its bench accuracy and the user's votes.

Selection asks `local_quality(task)` and, for each (provider, model) it returns, puts the
local figure before the catalog's published one: a benched model's accuracy is placed on
the catalog's scale for the task (0 % at its lowest score, 100 % at its highest), and
votes shift whichever score applies by VOTE_STEP of that range per net vote, never more
than MAX_VOTE_SHIFT either way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openmux.errors import OpenMuxError
from openmux.quality._store import Answer, quality_store

VOTE_STEP = 0.05
MAX_VOTE_SHIFT = 0.25

BENCH_TASKS = ("chat", "code")

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def run_key(run_id: str) -> str:
    """A run id as votes store it: the UUID inside a message id ("lc_run-UUID-0") or the id."""
    found = _UUID.search(run_id)
    return found.group(0).lower() if found else run_id.strip()


def bench_task(task: str | None) -> str:
    """The bench and vote task for a routed task: code is graded as code, the rest as chat."""
    return "code" if task == "code" else "chat"


@dataclass(frozen=True)
class LocalQuality:
    """A model's local evidence for one task."""

    accuracy: float | None
    """Share of the local bench answered correctly (None: not benched for this task)."""
    questions: int
    date: str | None
    up: int = 0
    down: int = 0

    @property
    def vote_shift(self) -> float:
        """Net votes as a share of the score range, within +-MAX_VOTE_SHIFT."""
        return max(-MAX_VOTE_SHIFT, min(MAX_VOTE_SHIFT, VOTE_STEP * (self.up - self.down)))

    def score(self, published: float, low: float, high: float) -> float:
        """The score selection ranks by, on the catalog's scale [low, high]."""
        span = (high - low) or 1.0
        base = published if self.accuracy is None else low + self.accuracy * span
        return base + self.vote_shift * span

    @property
    def why(self) -> str:
        """How the local evidence moved the score, for the routing reason."""
        parts = []
        if self.accuracy is not None:
            parts.append(
                f"scores {self.accuracy:.0%} on the local bench ({self.questions} questions, "
                f"{self.date}; used before the catalog's score)"
            )
        if self.up or self.down:
            parts.append(f"votes {self.up} up / {self.down} down (shift {self.vote_shift:+.2f})")
        return "; ".join(parts)

    def reason(self, catalog_phrase: str, model_id: str, free: bool) -> str:
        """The selection reason's quality phrase: the local bench replaces the catalog's
        phrase; votes alone are added to it."""
        if self.accuracy is None:
            return f"{catalog_phrase}, {self.why}"
        return f"{model_id} {self.why}, {'free' if free else 'paid'}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "questions": self.questions,
            "date": self.date,
            "up": self.up,
            "down": self.down,
            "vote_shift": self.vote_shift,
        }


def local_quality(task: str, state_dir: Path | None = None) -> dict[tuple[str, str], LocalQuality]:
    """Local evidence for `task` ("chat", "code"; other tasks have none) by (provider, model).

    Read from memory; the state file is looked at again at most every two seconds."""
    if task not in BENCH_TASKS:
        return {}
    evidence = quality_store(state_dir).evidence()
    found: dict[tuple[str, str], LocalQuality] = {}
    for (row_task, provider, model), row in evidence.latest.items():
        if row_task == task:
            up, down = evidence.votes.get((task, provider, model), (0, 0))
            found[(provider, model)] = LocalQuality(row.accuracy, row.questions, row.date, up, down)
    for (vote_task, provider, model), (up, down) in evidence.votes.items():
        if vote_task == task and (provider, model) not in found:
            found[(provider, model)] = LocalQuality(None, 0, None, up, down)
    return found


def quality_version(state_dir: Path | None = None) -> tuple[Any, ...]:
    """A stamp that changes whenever a vote or a bench result is recorded, in this process
    (at once) or another (within half a second): selection keys its cached ranking by it."""
    return quality_store(state_dir).version()


def remember_answer(
    run_id: str | None,
    metadata: dict[str, Any] | None,
    state_dir: Path | None = None,
    *,
    persist: bool = False,
) -> Answer | None:
    """Note which model answered a run (from its `response_metadata["openmux"]`), so a vote
    can name the run; `persist` keeps it for another process (`openmux vote`)."""
    if not run_id or not metadata or not metadata.get("provider") or not metadata.get("model"):
        return None
    answer = Answer(
        run_key(run_id),
        bench_task(metadata.get("task")),
        str(metadata["provider"]),
        str(metadata["model"]),
    )
    quality_store(state_dir).remember(answer, persist=persist)
    return answer


class UnknownRun(OpenMuxError, LookupError):
    """A vote named a run this machine has no answer for."""


def vote(
    run_id: str | None, good: bool, state_dir: Path | None = None
) -> tuple[Answer, LocalQuality]:
    """Grade the answer of `run_id` (None: the latest answer); return it and the new evidence."""
    store = quality_store(state_dir)
    answer = store.answer(None if run_id is None else run_key(run_id))
    if answer is None:
        raise UnknownRun(
            "no answer to vote on yet (ask with `openmux chat` first)"
            if run_id is None
            else f"no answer with run id {run_id!r} is known here"
        )
    store.add_vote(answer, good)
    quality = local_quality(answer.task, state_dir)[(answer.provider, answer.model)]
    return answer, quality
