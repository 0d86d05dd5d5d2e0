"""Benchmark the task classifier on the evaluation sets.

    python benchmarks/classify.py [--eval PATH ...] [--errors]

By default the three sets under tests/unit_tests/classifier/data, each by another
writer: eval.tsv (422 prompts), holdout.tsv (327) and fresh.tsv (325, written last).
None is trained or calibrated on. tools/classifier/data/dev*.tsv are the development sets
of the classifier's maintainers (looked at while tuning; score them with --eval).
outside_a.tsv and outside_b.tsv, written outside the project's own sets, are development
sets now: their summary figures were compared while choosing the classifier's distilled
word-vector features and its temperature cap, and later their errors were read and new
training lines were written on the themes those errors showed. Sets that stay unseen are
scored once, with tools/classifier/score.py and without --errors. independent_c.tsv to
independent_f.tsv are four sets written for the classifier by writers who saw only the
task taxonomy; each file's first line says when it was scored and whether its errors
were read since.

Prints load time, p50/p99 latency per prompt, accuracy, macro-F1, a per-label
precision/recall table, the confusion matrix, the expected calibration error and the
confident-error rate (wrong answers at confidence >= 0.8, over all prompts).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "unit_tests" / "classifier" / "data"
EVAL_SETS = [DATA / "eval.tsv", DATA / "holdout.tsv", DATA / "fresh.tsv"]
CONFIDENT = 0.8


def load_eval(path: Path) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, _, text = line.partition("\t")
            rows.append((label, text.replace("\\n", "\n")))
    return rows


def ece(conf: list[float], correct: list[bool], bins: int = 10) -> float:
    total, n = 0.0, len(conf)
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, c in enumerate(conf) if lo < c <= hi]
        if idx:
            acc = sum(correct[i] for i in idx) / len(idx)
            avg = sum(conf[i] for i in idx) / len(idx)
            total += len(idx) / n * abs(acc - avg)
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--eval", type=Path, action="append", help="a label<TAB>text file")
    parser.add_argument("--errors", action="store_true", help="list misclassified prompts")
    args = parser.parse_args()
    for path in args.eval or EVAL_SETS:
        print(f"== {path.name}")
        report(load_eval(path), errors=args.errors)
    return 0


def report(rows: list[tuple[str, str]], *, errors: bool) -> None:

    t0 = time.perf_counter()
    from openmux.classifier import TaskType, classify
    from openmux.classifier._model import get_model

    t1 = time.perf_counter()
    get_model()
    t2 = time.perf_counter()

    for _, text in rows[:50]:  # warm-up
        classify(text)
    rounds = 5
    wall: list[list[float]] = [[] for _ in rows]
    cpu: list[list[float]] = [[] for _ in rows]
    preds, confs = [], []
    for r in range(rounds):
        for i, (_, text) in enumerate(rows):
            c0, w0 = time.thread_time(), time.perf_counter()
            result = classify(text)
            w1, c1 = time.perf_counter(), time.thread_time()
            wall[i].append((w1 - w0) * 1000)
            cpu[i].append((c1 - c0) * 1000)
            if r == 0:
                preds.append(result.task.value)
                confs.append(result.confidence)

    def pct(values: list[float], q: float) -> float:
        values = sorted(values)
        return values[min(len(values) - 1, int(q * len(values)))]

    every = [t for ts in wall for t in ts]
    per_prompt = [statistics.median(ts) for ts in wall]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    labels = [t.value for t in TaskType]
    gold = [lbl for lbl, _ in rows]
    correct = [g == p for g, p in zip(gold, preds, strict=True)]
    acc = sum(correct) / len(rows)
    print(f"prompts        {len(rows)}")
    print(f"import         {(t1 - t0) * 1000:.1f} ms")
    print(f"model load     {(t2 - t1) * 1000:.1f} ms")
    print(f"latency, per-prompt median of {rounds} runs (load average {load:.1f}):")
    print(f"               p50 {pct(per_prompt, 0.5):.3f} ms   p99 {pct(per_prompt, 0.99):.3f} ms")
    print(f"  every call   p50 {pct(every, 0.5):.3f} ms   p99 {pct(every, 0.99):.3f} ms")
    cpu_all = [t for ts in cpu for t in ts]
    print(f"  thread CPU   p50 {pct(cpu_all, 0.5):.3f} ms   p99 {pct(cpu_all, 0.99):.3f} ms")
    print(f"accuracy       {acc:.4f}")
    f1s = []
    print(f"\n{'label':<12}{'precision':>10}{'recall':>10}{'f1':>8}{'support':>9}")
    for lbl in labels:
        tp = sum(g == lbl and p == lbl for g, p in zip(gold, preds, strict=True))
        fp = sum(g != lbl and p == lbl for g, p in zip(gold, preds, strict=True))
        fn = sum(g == lbl and p != lbl for g, p in zip(gold, preds, strict=True))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        f1s.append(f1)
        print(f"{lbl:<12}{prec:>10.3f}{rec:>10.3f}{f1:>8.3f}{tp + fn:>9}")
    print(f"\nmacro-F1       {sum(f1s) / len(f1s):.4f}")
    print(f"ECE (10 bins)  {ece(confs, correct):.4f}")
    confident_errors = sum(c >= CONFIDENT and not ok for c, ok in zip(confs, correct, strict=True))
    print(
        f"confident err  {confident_errors / len(rows):.4f}"
        f"  ({confident_errors} wrong at confidence >= {CONFIDENT})"
    )
    print(f"mean conf      {sum(confs) / len(confs):.4f}")
    print("\nconfusion (rows = gold, columns = predicted)")
    print(" " * 12 + "".join(f"{lbl[:6]:>7}" for lbl in labels))
    for g in labels:
        counts = [sum(a == g and b == p for a, b in zip(gold, preds, strict=True)) for p in labels]
        print(f"{g:<12}" + "".join(f"{c:>7}" for c in counts))
    if errors:
        print("\nerrors")
        for (g, text), p, c in zip(rows, preds, confs, strict=True):
            if g != p:
                print(f"  {g:>10} -> {p:<10} {c:.2f}  {text[:100]!r}")
    print()


if __name__ == "__main__":
    raise SystemExit(main())
