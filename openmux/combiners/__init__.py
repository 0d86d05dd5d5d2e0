"""Combiners: how fan-out answers become one answer.

| name              | result                                                        |
|-------------------|---------------------------------------------------------------|
| `best`            | a judge model picks one answer and says why (heuristic if none)|
| `vote`            | the majority short answer; ties go to the best-ranked model   |
| `concat`          | every answer, labelled `[provider:model]`                     |
| `summarize`       | one model merges the answers (mixture-of-agents); streams     |
| `local-summarize` | the same, merged by a model on this machine                   |

Each combiner fills the `combiner` dict of `response_metadata["openmux"]`:

    {"name": "vote", "winner": "groq:m", "agreement": 0.67, "reason": "...", ...}

Always present: `name`, `reason`, `members` (how many were asked), `answers`
(how many answered), `provider`/`model` (the model the combiner itself called:
judge or merger, else None). `best` and `vote` add `winner` (the member whose
answer is returned); `best` adds `method` ("judge", "heuristic" or "only");
`vote` adds `agreement`, `answer` (the normalised winning answer) and `votes`.

A combiner is a class with `combine(job) -> AIMessage` (and async/stream
forms); `register` adds one under a new name.
"""

from __future__ import annotations

from openmux.combiners._base import CombineJob, Combiner, MemberAnswer, ModelCalls
from openmux.combiners._normalize import normalize_answer
from openmux.combiners.best import Best
from openmux.combiners.concat import Concat
from openmux.combiners.summarize import LocalSummarize, Summarize
from openmux.combiners.vote import Vote

__all__ = [
    "COMBINERS",
    "DEFAULT_COMBINER",
    "CombineJob",
    "Combiner",
    "MemberAnswer",
    "ModelCalls",
    "get_combiner",
    "normalize_answer",
    "register",
]

COMBINERS: dict[str, type[Combiner]] = {
    cls.name: cls for cls in (Best, Vote, Concat, Summarize, LocalSummarize)
}
DEFAULT_COMBINER = "best"


def register(combiner: type[Combiner]) -> type[Combiner]:
    """Add a combiner class under its `name` (usable as a decorator)."""
    if not combiner.name:
        raise ValueError("a combiner needs a name")
    COMBINERS[combiner.name] = combiner
    return combiner


def get_combiner(name: str) -> Combiner:
    try:
        return COMBINERS[name]()
    except KeyError:
        raise ValueError(f"unknown combiner {name!r}; use one of: {', '.join(COMBINERS)}") from None
