"""The classifier's hand-written training lines never repeat a prompt it is scored on.

A prompt in both a training file and an evaluation, development or calibration set
would inflate that set's score (and bias the temperature fitted on calibration sets).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
TRAINING = ROOT / "tools" / "classifier" / "data"
SCORED = [
    Path(__file__).resolve().parent / "data",  # the classifier's evaluation sets
    ROOT / "tests" / "integration_tests" / "data",  # the text- and media-intent sets
]
LABELS = {"chat", "code", "tts", "audio", "embeddings", "image", "other"}


def _key(text: str) -> str:
    return re.sub(r"\W+", " ", text.replace("\\n", "\n").casefold()).strip()


def _prompts(path: Path) -> set[str]:
    """The prompt of each line: label and prompt come first, in either order; any further
    columns (language, borderline) are notes."""
    out = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or "\t" not in line:
            continue
        first, second = line.split("\t")[:2]
        out.add(_key(second if first in LABELS else first))
    return out


@pytest.mark.skipif(not TRAINING.is_dir(), reason="the training data lives in the source tree")
def test_no_training_line_is_a_scored_prompt() -> None:
    scored: set[str] = set()
    own = ["calibration*.tsv", "dev*.tsv", "heldout_own.tsv"]
    for path in [
        *(p for d in SCORED for p in d.glob("*.tsv")),
        *(p for g in own for p in TRAINING.glob(g)),
    ]:
        scored |= _prompts(path)
    repeated = {
        path.name: len(_prompts(path) & scored) for path in sorted(TRAINING.glob("train_*.tsv"))
    }
    assert {name: n for name, n in repeated.items() if n} == {}
