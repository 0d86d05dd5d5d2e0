"""Score the bundled local chat model on easy questions with checkable answers.

    python benchmarks/easy_questions.py [--runs 5] [--runtime auto|numpy|llama.cpp]

Each question of benchmarks/data/easy_questions.jsonl is asked `--runs` times
with the model's default settings (each run with its own seed, so sampled
defaults are measured as a user meets them, reproducibly). An answer passes
when it matches the row's `expect` pattern, does not match its `reject`
pattern, and stays within `max_words` when the row sets one (the system
prompt asked for a short answer). Prints each question's pass count and the
overall score. Needs the `local` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "easy_questions.jsonl"


def passes(row: dict[str, object], answer: str) -> bool:
    text = answer.lower()
    if not re.search(str(row["expect"]), text):
        return False
    if row.get("reject") and re.search(str(row["reject"]), text):
        return False
    max_words = row.get("max_words")
    return not (isinstance(max_words, int) and len(answer.split()) > max_words)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--runtime",
        choices=("auto", "numpy", "llama.cpp"),
        default="auto",
        help="which runtime serves the bundled model (sets OPENMUX_LOCAL_RUNTIME)",
    )
    parser.add_argument("--show", action="store_true", help="print every answer")
    args = parser.parse_args()
    os.environ["OPENMUX_LOCAL_RUNTIME"] = args.runtime

    from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

    from openmux.local import ChatLocalGGUF

    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    started = time.perf_counter()
    total = 0
    served_by = "?"
    for row in rows:
        messages: list[BaseMessage] = []
        if row.get("system"):
            messages.append(SystemMessage(row["system"]))
        messages.append(HumanMessage(row["question"]))
        passed = 0
        for run in range(args.runs):
            reply = ChatLocalGGUF(seed=run).invoke(messages)
            served_by = str(reply.response_metadata.get("runtime", "llama.cpp"))
            answer = str(reply.content)
            ok = passes(row, answer)
            passed += ok
            if args.show:
                print(f"  [{'ok' if ok else '--'}] {row['id']}: {answer!r}")
        total += passed
        print(f"{row['id']:<24} {passed}/{args.runs}", flush=True)
    asked = len(rows) * args.runs
    seconds = time.perf_counter() - started
    print(
        f"score {total}/{asked} = {total / asked:.0%} "
        f"(runtime {served_by}, {len(rows)} questions x {args.runs} runs, {seconds:.0f} s)"
    )


if __name__ == "__main__":
    main()
