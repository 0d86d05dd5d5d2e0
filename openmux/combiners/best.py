"""`best`: a judge model picks the best answer and says why.

The judge (`judge=`, default the top candidate for the task) sees the
conversation and the answers, numbered and without model names, and replies
`BEST: <n>` / `REASON: ...`. When no judge answers, or its reply cannot be
read, a heuristic picks instead: no refusals, then agreement with the other
answers, then length, then rank.
"""

from __future__ import annotations

import re
from collections import Counter

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from openmux.combiners._base import (
    CombineJob,
    Combiner,
    MemberAnswer,
    pick,
    render_conversation,
)
from openmux.combiners._normalize import normalize_answer
from openmux.errors import OpenMuxError

JUDGE_PROMPT = (
    "You judge answers that several AI assistants gave to the same request. Pick the single "
    "best answer: correct first, then complete, clear and to the point. Never pick a refusal "
    "or an empty answer when another answer helps.\n"
    "Reply in exactly this form and nothing else:\n"
    "BEST: <the answer's number>\n"
    "REASON: <one sentence>"
)

_BEST = re.compile(r"BEST\s*[:=]?\s*(?:answer\s*)?#?\s*(\d+)", re.IGNORECASE)
_LOOSE = re.compile(r"\banswer\s*#?\s*(\d+)\b", re.IGNORECASE)
_REASON = re.compile(r"REASON\s*[:=]\s*(.+)", re.IGNORECASE | re.DOTALL)
_REFUSAL = re.compile(
    r"\b(?:I\s+(?:can(?:'|no)t|cannot|am\s+(?:not\s+able|unable)|won't)|I'm\s+(?:sorry|unable"
    r"|not\s+able)|as\s+an\s+AI\b|I\s+apologi[sz]e)",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+")


def judge_messages(job: CombineJob) -> list[BaseMessage]:
    answers = "\n\n".join(
        f"Answer {number}:\n{answer.rendered()}" for number, answer in enumerate(job.answers, 1)
    )
    return [
        SystemMessage(JUDGE_PROMPT),
        HumanMessage(
            f"The request:\n{render_conversation(job.messages)}\n\n"
            f"The {len(job.answers)} answers:\n\n{answers}"
        ),
    ]


def read_verdict(text: str, count: int) -> tuple[int, str] | None:
    """(0-based index, reason) from the judge's reply, or None when it names no answer."""
    match = _BEST.search(text) or _LOOSE.search(text)
    if match is None:
        return None
    number = int(match.group(1))
    if not 1 <= number <= count:
        return None
    reason = _REASON.search(text)
    why = reason.group(1).strip().splitlines()[0] if reason else ""
    return number - 1, why or "the judge gave no reason"


def heuristic_pick(answers: list[MemberAnswer]) -> tuple[MemberAnswer, str]:
    """No refusals, then agreement with the others, then length, then rank."""
    keys = [normalize_answer(a.rendered()) for a in answers]
    counts = Counter(keys)
    words = [set(_WORD.findall(a.rendered().lower())) for a in answers]
    others = max(len(answers) - 1, 1)

    def score(index: int) -> tuple[float, int]:
        answer = answers[index]
        refusal = bool(_REFUSAL.search(answer.rendered()[:400])) or not answer.rendered().strip()
        agreement = (counts[keys[index]] - 1) / others
        overlap = (
            sum(
                len(words[index] & words[j]) / max(len(words[index] | words[j]), 1)
                for j in range(len(answers))
                if j != index
            )
            / others
        )
        length = min(len(_WORD.findall(answer.rendered())) / 300, 1.0)
        return (-10.0 * refusal + 2.0 * agreement + overlap + 0.5 * length, -answer.rank)

    best = max(range(len(answers)), key=score)
    return answers[best], (
        "heuristic: a non-refusal answer that agrees most with the others, then the longest"
    )


class Best(Combiner):
    name = "best"
    combines_tool_calls = True

    def _single(self, job: CombineJob) -> AIMessage | None:
        if len(job.answers) > 1:
            return None
        job.info.update(
            {"winner": job.answers[0].label, "method": "only", "reason": "the only answer"}
        )
        return pick(job.answers[0], job)

    def _verdict(self, job: CombineJob, reply: AIMessage | None, error: str | None) -> AIMessage:
        verdict = read_verdict(reply.text, len(job.answers)) if reply is not None else None
        if verdict is not None:
            index, reason = verdict
            chosen = job.answers[index]
            job.info.update({"winner": chosen.label, "method": "judge", "reason": reason})
            return pick(chosen, job)
        chosen, reason = heuristic_pick(job.answers)
        why = error or "the judge's reply named no answer"
        job.info.update(
            {"winner": chosen.label, "method": "heuristic", "reason": f"{reason}; {why}"}
        )
        return pick(chosen, job)

    def combine(self, job: CombineJob) -> AIMessage:
        single = self._single(job)
        if single is not None:
            return single
        try:
            reply = job.calls.invoke(judge_messages(job), model=job.judge)
        except OpenMuxError as exc:
            return self._verdict(job, None, f"no judge answered: {str(exc).splitlines()[0]}")
        return self._verdict(job, reply, None)

    async def acombine(self, job: CombineJob) -> AIMessage:
        single = self._single(job)
        if single is not None:
            return single
        try:
            reply = await job.calls.ainvoke(judge_messages(job), model=job.judge)
        except OpenMuxError as exc:
            return self._verdict(job, None, f"no judge answered: {str(exc).splitlines()[0]}")
        return self._verdict(job, reply, None)
