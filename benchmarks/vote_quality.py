"""Is a vote over three models at least as accurate as the best one of them?

On short-answer questions with known answers (arithmetic, capitals, yes/no, multiple
choice), the script asks each member alone, then the three at once with
`combiner="vote"`, and prints each one's accuracy. Target: vote >= best member.

Against fakes (the default; no network): three loopback providers whose reply
callables answer right with probability p (0.80, 0.70, 0.65 by default), seeded per
(provider, question) so a member gives the same answer alone and inside the fan-out.
Right answers come in varied spellings ("42", "The answer is 42.", "**42**", "Yes."),
wrong ones are drawn from near misses and distractors, as real models' errors are.

    python benchmarks/vote_quality.py                    # fakes, 300 questions
    python benchmarks/vote_quality.py --p 0.9 0.6 0.6 --seed 7

Against real providers: set the keys (or run `openmux init`), then name three models,
best first (vote breaks ties by this order):

    export GROQ_API_KEY=... OPENROUTER_API_KEY=... GEMINI_API_KEY=...
    python benchmarks/vote_quality.py --real \\
        --models groq:llama-3.3-70b-versatile,gemini:gemini-2.0-flash,\\
openrouter:mistralai/mistral-small-3.2-24b-instruct:free

`--real` uses only the built-in hand-written questions (arithmetic that needs care,
facts, yes/no, multiple choice), asks with "answer with only the answer", and honours
your openmux.toml; `--limit N` asks fewer (free tiers have rate limits). Without
`--models` it takes `fanout=3` (the top three models). It calls the network: it is a
benchmark to run by hand, never a test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openmux import ChatOpenMux, NoProviderAvailable
from openmux.combiners import normalize_answer


@dataclass(frozen=True)
class Question:
    text: str
    answer: str
    distractors: tuple[str, ...] = field(default_factory=tuple)


# Hand-written questions, usable against real models too.
QUESTIONS = [
    Question("What is 17 * 23?", "391", ("381", "401", "371")),
    Question("What is 1234 + 5678?", "6912", ("6812", "7012", "6902")),
    Question("What is 2 to the power of 10?", "1024", ("1000", "2048", "512")),
    Question("How many seconds are in one hour?", "3600", ("360", "6000", "3000")),
    Question("What is 15% of 240?", "36", ("24", "40", "32")),
    Question("What is the square root of 169?", "13", ("12", "14", "17")),
    Question("How many days are in a leap year?", "366", ("365", "364", "367")),
    Question("What is 1000 - 387?", "613", ("623", "603", "713")),
    Question("What is 144 / 12?", "12", ("11", "14", "13")),
    Question("How many sides does a hexagon have?", "6", ("5", "8", "7")),
    Question("What is the capital of Australia?", "Canberra", ("Sydney", "Melbourne")),
    Question("What is the capital of Canada?", "Ottawa", ("Toronto", "Montreal")),
    Question("What is the capital of Turkey?", "Ankara", ("Istanbul", "Izmir")),
    Question("What is the capital of Switzerland?", "Bern", ("Zurich", "Geneva")),
    Question("What is the capital of Brazil?", "Brasilia", ("Rio de Janeiro", "Sao Paulo")),
    Question("What is the chemical symbol for gold?", "Au", ("Ag", "Go", "Gd")),
    Question("What is the chemical symbol for sodium?", "Na", ("So", "Sd", "S")),
    Question("Which planet is closest to the Sun?", "Mercury", ("Venus", "Mars")),
    Question("Is 97 a prime number? Answer yes or no.", "yes", ("no",)),
    Question("Is 91 a prime number? Answer yes or no.", "no", ("yes",)),
    Question("Is the Pacific the largest ocean? Answer yes or no.", "yes", ("no",)),
    Question("Is a tomato botanically a fruit? Answer yes or no.", "yes", ("no",)),
    Question("Does light travel faster than sound? Answer yes or no.", "yes", ("no",)),
    Question("Is Mount Kilimanjaro in Asia? Answer yes or no.", "no", ("yes",)),
    Question(
        "Which is a mammal? (A) shark (B) dolphin (C) trout (D) octopus. Answer with the letter.",
        "B",
        ("A", "C", "D"),
    ),
    Question(
        "Which gas do plants absorb? (A) oxygen (B) nitrogen (C) carbon dioxide (D) helium. "
        "Answer with the letter.",
        "C",
        ("A", "B", "D"),
    ),
    Question(
        "Who wrote 'Hamlet'? (A) Dickens (B) Shakespeare (C) Austen (D) Tolstoy. "
        "Answer with the letter.",
        "B",
        ("A", "C", "D"),
    ),
    Question(
        "Which is the largest? (A) 0.5 (B) 2/3 (C) 0.6 (D) 5/8. Answer with the letter.",
        "B",
        ("A", "C", "D"),
    ),
]

_PROMPT = "Answer with only the answer, no explanation.\n\n"


def synthetic_questions(count: int, seed: int) -> list[Question]:
    rng = random.Random(seed)
    questions = []
    for _ in range(count):
        a, b = rng.randint(12, 999), rng.randint(12, 99)
        op = rng.choice("+-*")
        value = a + b if op == "+" else a - b if op == "-" else a * b
        misses = tuple(str(value + d) for d in (-10, -2, -1, 1, 2, 10, 100))
        questions.append(Question(f"What is {a} {op} {b}?", str(value), misses))
    return questions


def _spell_right(answer: str, rng: random.Random) -> str:
    if re.fullmatch(r"-?\d+", answer):
        forms = [answer, f"{answer}.", f"The answer is {answer}.", f"**{answer}**", f"{answer}.0"]
        if len(answer) > 3:
            forms.append(f"{int(answer):,}")
    elif answer in ("yes", "no"):
        forms = [
            answer,
            answer.capitalize() + ".",
            answer.upper(),
            f"{answer.capitalize()}, it is.",
        ]
        if answer == "no":
            forms[-1] = "No, it is not."
    elif len(answer) == 1:
        forms = [answer, f"({answer})", f"{answer})", f"The answer is {answer}."]
    else:
        forms = [answer, f"{answer}.", answer.lower(), f"The answer is {answer}."]
    return rng.choice(forms)


def fake_reply(
    name: str, p: float, seed: int, by_text: dict[str, Question]
) -> Callable[[dict[str, Any]], str]:
    """Right with probability p, seeded per (provider, question): same answer every time."""

    def reply(body: dict[str, Any]) -> str:
        content = body["messages"][-1]["content"]
        text = content if isinstance(content, str) else json.dumps(content)
        question = by_text[text.removeprefix(_PROMPT)]
        digest = hashlib.sha256(f"{seed}:{name}:{question.text}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        if rng.random() < p:
            return _spell_right(question.answer, rng)
        return rng.choice(question.distractors)

    return reply


def correct(response: str, question: Question) -> bool:
    return normalize_answer(response) == normalize_answer(question.answer)


def evaluate(
    single: Callable[[str, str], str | None],
    vote: Callable[[str], str | None],
    members: list[str],
    questions: list[Question],
) -> dict[str, float]:
    right = {name: 0 for name in [*members, "vote"]}
    for question in questions:
        prompt = _PROMPT + question.text
        for name in members:
            answer = single(prompt, name)
            right[name] += answer is not None and correct(answer, question)
        answer = vote(prompt)
        right["vote"] += answer is not None and correct(answer, question)
    return {name: count / len(questions) for name, count in right.items()}


def _ask(llm: ChatOpenMux, prompt: str, **kwargs: Any) -> str | None:
    try:
        return llm.invoke(prompt, **kwargs).text
    except NoProviderAvailable as exc:
        print(f"  no answer: {str(exc).splitlines()[0]}", file=sys.stderr)
        return None


def run_fakes(args: argparse.Namespace) -> tuple[list[str], dict[str, float], int]:
    from openmux.testing import FakeProviderServer

    questions = QUESTIONS + synthetic_questions(args.questions - len(QUESTIONS), args.seed)
    by_text = {q.text: q for q in questions}
    names = ["m1", "m2", "m3"]
    with FakeProviderServer() as server:
        for name, p in zip(names, args.p, strict=True):
            server.add_provider(
                name, models=[f"{name}-model"], reply=fake_reply(name, p, args.seed, by_text)
            )
        config = {
            "router": {"providers": names},
            "providers": {
                n: {
                    "protocol": "openai",
                    "base_url": server.providers[n].base_url,
                    "models": [f"{n}-model"],
                }
                for n in names
            },
        }
        os.environ["OPENMUX_STATE_DIR"] = tempfile.mkdtemp()
        llm = ChatOpenMux(config=config, task="chat")
        members = [f"{n}:{n}-model" for n in names]
        scores = evaluate(
            lambda prompt, name: _ask(llm, prompt, model=name),
            lambda prompt: _ask(llm, prompt, fanout=members, combiner="vote"),
            members,
            questions,
        )
    return members, scores, len(questions)


def run_real(args: argparse.Namespace) -> tuple[list[str], dict[str, float], int]:
    questions = QUESTIONS[: args.limit] if args.limit else QUESTIONS
    llm = ChatOpenMux(task="chat", temperature=0)
    if args.models:
        members = [m.strip() for m in args.models.split(",") if m.strip()]
        fanout: int | list[str] = members
    else:
        from langchain_core.messages import HumanMessage

        from openmux.routing import RouteRequest, plan

        planned = plan(llm.router, RouteRequest(messages=[HumanMessage("hi")], task="chat"))
        members = list(
            dict.fromkeys(f"{c.provider.name}:{c.model.id}" for c in planned.candidates)
        )[:3]
        fanout = 3
    scores = evaluate(
        lambda prompt, name: _ask(llm, prompt, model=name),
        lambda prompt: _ask(llm, prompt, fanout=fanout, combiner="vote"),
        members,
        questions,
    )
    return members, scores, len(questions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--real", action="store_true", help="ask real providers (network)")
    parser.add_argument("--models", help="real mode: three PROVIDER:ID names, best first")
    parser.add_argument("--limit", type=int, help="real mode: ask only the first N questions")
    parser.add_argument("--questions", type=int, default=300, help="fakes: how many questions")
    parser.add_argument(
        "--p", type=float, nargs=3, default=[0.80, 0.70, 0.65], help="fakes: accuracy per member"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    members, scores, count = run_real(args) if args.real else run_fakes(args)
    print(f"{count} short-answer questions; accuracy:")
    for name in members:
        print(f"  {name:32s} {scores[name]:6.1%}")
    best = max(scores[name] for name in members)
    verdict = "ok" if scores["vote"] >= best else "below the best member"
    print(
        f"  {'vote over the three':32s} {scores['vote']:6.1%}  (best member {best:.1%}: {verdict})"
    )


if __name__ == "__main__":
    main()
