"""`openmux classify "TEXT" [--json]`: print the task label of one request or of stdin lines."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from openmux.classifier import TaskClassification, classify


def _format(result: TaskClassification, as_json: bool) -> str:
    if as_json:
        return json.dumps(
            {
                "task": result.task.value,
                "confidence": result.confidence,
                "secondary": [t.value for t in result.secondary],
                "reason": result.reason,
            },
            ensure_ascii=False,
        )
    secondary = ",".join(t.value for t in result.secondary) or "-"
    return f"{result.task.value}\t{result.confidence:.2f}\t{secondary}\t{result.reason}"


def build_parser(prog: str = "openmux classify") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Classify a request into a task (chat, code, tts, audio, embeddings, "
        "image, other). Without TEXT, classify each line of stdin.",
    )
    parser.add_argument("text", nargs="*", help="the request (words are joined by spaces)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    return parser


def run(argv: list[str], stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Run the sub-command; returns the exit status."""
    args = build_parser().parse_args(argv)
    out = stdout or sys.stdout
    if args.text:
        lines = [" ".join(args.text)]
    else:
        lines = [line.rstrip("\n") for line in (stdin or sys.stdin)]
    for line in lines:
        if not line.strip():
            continue
        print(_format(classify(line), args.json), file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
