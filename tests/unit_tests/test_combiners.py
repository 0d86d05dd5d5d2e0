"""Combiner helpers that need no model: answer normalisation, verdicts, heuristics."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage

from openmux.combiners import (
    COMBINERS,
    CombineJob,
    MemberAnswer,
    get_combiner,
    normalize_answer,
)
from openmux.combiners.best import heuristic_pick, read_verdict
from openmux.combiners.vote import tally


@pytest.mark.parametrize(
    ("spellings", "key"),
    [
        (["Yes.", "yes", "YES, it is.", "True", "**Yes**", "The answer is yes"], "yes"),
        (["No", "no.", "Nope, never", "False"], "no"),
        (["B", "(b)", "B) Paris", "The answer is B.", "Option B", "b."], "choice:b"),
        (["1,000", "1000", "1000.0", "1 000", "Answer: 1000", "`1000`"], "1000"),
        (["7", "seven", "Seven.", "7.00"], "7"),
        (["-0.0", "0"], "0"),
        (["50%", "50 percent"], "50%"),
        (["Paris", "paris.", "**Paris**", '"Paris"', "The answer is: Paris"], "paris"),
    ],
)
def test_normalize_answer_merges_spellings(spellings: list[str], key: str) -> None:
    assert {normalize_answer(s) for s in spellings} == {key}


def test_normalize_answer_keeps_different_answers_apart() -> None:
    keys = ["yes", "no", "A", "B", "3.14", "3.15", "paris", "lyon", "a dog"]
    assert len({normalize_answer(k) for k in keys}) == len(keys)
    long = "Yes, in the sense that the question assumes a definition that most botanists reject."
    assert normalize_answer(long) != "yes"  # a short answer opens with yes; an essay does not


def _answer(rank: int, text: str) -> MemberAnswer:
    return MemberAnswer(rank, f"p:m{rank}", "p", f"m{rank}", "ok", 1.0, AIMessage(content=text))


def test_tally_orders_by_votes_then_rank() -> None:
    groups = tally([_answer(0, "no"), _answer(1, "Yes"), _answer(2, "yes.")])
    assert [(key, [a.rank for a in group]) for key, group in groups] == [
        ("yes", [1, 2]),
        ("no", [0]),
    ]
    tie = tally([_answer(1, "A"), _answer(0, "B")])
    assert tie[0][0] == "choice:b"  # the best-ranked member's group wins a tie


@pytest.mark.parametrize("blank", [" ", "\n\n", "...", "**"])
def test_a_blank_answer_never_outvotes_an_answer(blank: str) -> None:
    answers = [_answer(0, blank), _answer(1, blank), _answer(2, "Yes.")]
    assert [key for key, _ in tally(answers)] == ["yes", ""]
    job = CombineJob(messages=[], answers=answers[:1] + answers[2:], calls=None)  # type: ignore[arg-type]
    message = get_combiner("vote").combine(job)
    assert message.content == "Yes." and job.info["winner"] == "p:m2"
    assert "tie" not in job.info["reason"]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("BEST: 2\nREASON: most complete.", (1, "most complete.")),
        ("best = #3\nreason: correct", (2, "correct")),
        ("I prefer answer 1 because it is right.", (0, "the judge gave no reason")),
        ("BEST: 7", None),
        ("They are all fine.", None),
    ],
)
def test_read_verdict(reply: str, expected: tuple[int, str] | None) -> None:
    assert read_verdict(reply, 3) == expected


def test_heuristic_skips_refusals_and_prefers_agreement() -> None:
    answers = [
        _answer(0, "I'm sorry, but I can't help with that request at all, in any way."),
        _answer(1, "Lyon"),
        _answer(2, "Paris"),
        _answer(3, "paris."),
    ]
    chosen, reason = heuristic_pick(answers)
    assert chosen.rank == 2 and "heuristic" in reason


def test_registry() -> None:
    assert set(COMBINERS) == {"best", "vote", "concat", "summarize", "local-summarize"}
    assert get_combiner("local-summarize").local_only
    with pytest.raises(ValueError, match="unknown combiner"):
        get_combiner("average")
