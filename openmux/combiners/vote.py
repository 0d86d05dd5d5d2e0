"""`vote`: the majority answer among short answers (labels, numbers, yes/no, choices).

Answers are compared after `normalize_answer` (case, punctuation, number
formats, "Yes." == "yes", "(B)" == "B"). A blank answer never wins over another;
ties go to the group holding the best-ranked member, and the answer returned
is that member's own text. The metadata reports the winner, the agreement
ratio (winning votes / answers) and the tally.
"""

from __future__ import annotations

from langchain_core.messages import AIMessage

from openmux.combiners._base import CombineJob, Combiner, MemberAnswer, pick
from openmux.combiners._normalize import normalize_answer


def tally(answers: list[MemberAnswer]) -> list[tuple[str, list[MemberAnswer]]]:
    """Groups of equal answers, largest first; ties keep the best-ranked group first.

    Blank answers (nothing left once normalised: spaces, dots, markup) come last, however
    many: they are no answer to agree with."""
    groups: dict[str, list[MemberAnswer]] = {}
    for answer in sorted(answers, key=lambda a: a.rank):
        groups.setdefault(normalize_answer(answer.rendered()), []).append(answer)
    return sorted(groups.items(), key=lambda item: (not item[0], -len(item[1]), item[1][0].rank))


class Vote(Combiner):
    name = "vote"
    combines_tool_calls = True

    def combine(self, job: CombineJob) -> AIMessage:
        groups = tally(job.answers)
        key, winners = groups[0]
        total = len(job.answers)
        winner = winners[0]
        tied = len(groups) > 1 and bool(groups[1][0]) and len(groups[1][1]) == len(winners)
        reason = f"{len(winners)} of {total} answers agree"
        if tied:
            reason += f"; a tie, broken by rank: {winner.label} ranks highest"
        job.info.update(
            {
                "winner": winner.label,
                "agreement": round(len(winners) / total, 2),
                "answer": key,
                "votes": {k: len(group) for k, group in groups},
                "reason": reason,
            }
        )
        return pick(winner, job)
