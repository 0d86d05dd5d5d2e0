"""Score the task classifier on a TSV file of labelled prompts.

    python -m tools.classifier.score PATH [PATH ...] [--errors]   # from the repository root

Each line holds a prompt and its label, in either order (prompt<TAB>label or
label<TAB>prompt), maybe followed by more columns, which are ignored; a first line
naming the columns, blank lines and lines starting with "#" are skipped, and "\\n" in a
prompt is a newline. Prints accuracy, macro-F1, per-label precision/recall, the
confident-error rate (wrong at confidence >= 0.8, over all prompts), the expected
calibration error (10 equal-width bins) and the confusion matrix. --errors lists the
misclassified prompts: leave it off for a set that should stay unseen.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from openmux.classifier._model import LABELS

CONFIDENT = 0.8


@dataclass(frozen=True)
class Scores:
    accuracy: float
    macro_f1: float
    per_label: dict[str, tuple[float, float, int]]  # precision, recall, support
    confident_errors: int
    ece: float
    confusion: np.ndarray  # rows gold, columns predicted, in LABELS order


def read_labelled(path: Path) -> list[tuple[str, str]]:
    """(prompt, label) pairs of a TSV file, whichever column order it uses."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < 2:
            raise ValueError(f"{path}:{n}: expected prompt<TAB>label, got one column")
        first, second = cols[0].strip().lower(), cols[1].strip().lower()
        if second in LABELS:
            prompt, label = cols[0], second
        elif first in LABELS:
            prompt, label = cols[1], first
        elif not rows and {first, second} & {"label", "task", "prompt", "text"}:
            continue  # a header line
        else:
            raise ValueError(
                f"{path}:{n}: neither of the first two columns is a label ({', '.join(LABELS)})"
            )
        rows.append((prompt.replace("\\n", "\n"), label))
    return rows


def ece(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width confidence bins."""
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in pairwise(edges):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return float(total)


def scores(gold: list[str], pred: list[str], conf: list[float]) -> Scores:
    g = np.array([LABELS.index(x) for x in gold])
    p = np.array([LABELS.index(x) for x in pred])
    c = np.asarray(conf, dtype=float)
    confusion = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    np.add.at(confusion, (g, p), 1)
    per_label, f1s = {}, []
    for k, label in enumerate(LABELS):
        tp, predicted, support = confusion[k, k], confusion[:, k].sum(), confusion[k].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        per_label[label] = (precision, recall, int(support))
        if support or predicted:  # a label absent from the set and never predicted has no F1
            f1s.append(2 * precision * recall / (precision + recall) if tp else 0.0)
    correct = g == p
    return Scores(
        accuracy=float(correct.mean()),
        macro_f1=float(np.mean(f1s)),
        per_label=per_label,
        confident_errors=int(((c >= CONFIDENT) & ~correct).sum()),
        ece=ece(c, correct.astype(float)),
        confusion=confusion,
    )


def score_file(path: Path, *, errors: bool = False) -> Scores:
    from openmux.classifier import classify

    rows = read_labelled(path)
    results = [classify(prompt) for prompt, _ in rows]
    gold = [label for _, label in rows]
    pred = [r.task.value for r in results]
    conf = [r.confidence for r in results]
    s = scores(gold, pred, conf)
    n = len(rows)
    print(f"== {path.name}: {n} prompts")
    print(f"accuracy          {s.accuracy:.4f}")
    print(f"macro-F1          {s.macro_f1:.4f}")
    wrong = s.confident_errors
    print(f"confident errors  {wrong / n:.4f}  ({wrong} wrong at confidence >= {CONFIDENT})")
    print(f"ECE (10 bins)     {s.ece:.4f}")
    print(f"\n{'label':<12}{'precision':>10}{'recall':>10}{'support':>9}")
    for label, (precision, recall, support) in s.per_label.items():
        print(f"{label:<12}{precision:>10.3f}{recall:>10.3f}{support:>9}")
    print("\nconfusion (rows gold, columns predicted)")
    print(" " * 12 + "".join(f"{label[:6]:>7}" for label in LABELS))
    for label, counts in zip(LABELS, s.confusion, strict=True):
        print(f"{label:<12}" + "".join(f"{c:>7}" for c in counts))
    if errors:
        print("\nerrors")
        for (prompt, g), p, c in zip(rows, pred, conf, strict=True):
            if g != p:
                print(f"  {g:>10} -> {p:<10} {c:.2f}  {prompt[:110]!r}")
    print()
    return s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", type=Path, nargs="+", metavar="PATH")
    parser.add_argument("--errors", action="store_true", help="list the misclassified prompts")
    parser.add_argument("--model", type=Path, help="score this artifact instead of the shipped one")
    args = parser.parse_args(argv)
    if args.model:
        from openmux.classifier import _model

        _model._model = _model.Model(args.model)
    for path in args.paths:
        try:
            score_file(path, errors=args.errors)
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
