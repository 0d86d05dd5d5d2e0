"""Benchmark the task classifier on the evaluation set.

    python benchmarks/classify.py [--eval PATH]

Prints load time, p50/p99 latency per prompt, accuracy, macro-F1, a per-label
precision/recall table, the confusion matrix and the expected calibration error.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "tests" / "unit_tests" / "classifier" / "data" / "eval.tsv"


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
    parser.add_argument("--eval", type=Path, default=EVAL)
    parser.add_argument("--errors", action="store_true", help="list misclassified prompts")
    args = parser.parse_args()
    rows = load_eval(args.eval)

    t0 = time.perf_counter()
    from openmux.classifier import TaskType, classify
    from openmux.classifier._model import get_model

    t1 = time.perf_counter()
    get_model()
    t2 = time.perf_counter()

    for text, _ in [(t, lbl) for lbl, t in rows[:50]]:  # warm-up
        classify(text)
    times, preds, confs = [], [], []
    for _ in range(3):
        times.clear()
        preds.clear()
        confs.clear()
        for _, text in rows:
            s = time.perf_counter()
            r = classify(text)
            times.append((time.perf_counter() - s) * 1000)
            preds.append(r.task.value)
            confs.append(r.confidence)
    times.sort()
    p50 = statistics.median(times)
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]

    labels = [t.value for t in TaskType]
    gold = [lbl for lbl, _ in rows]
    correct = [g == p for g, p in zip(gold, preds)]
    acc = sum(correct) / len(rows)
    print(f"prompts        {len(rows)}")
    print(f"import         {(t1 - t0) * 1000:.1f} ms")
    print(f"model load     {(t2 - t1) * 1000:.1f} ms")
    print(f"latency        p50 {p50:.3f} ms   p99 {p99:.3f} ms   max {times[-1]:.3f} ms")
    print(f"accuracy       {acc:.4f}")
    f1s = []
    print(f"\n{'label':<12}{'precision':>10}{'recall':>10}{'f1':>8}{'support':>9}")
    for lbl in labels:
        tp = sum(g == lbl and p == lbl for g, p in zip(gold, preds))
        fp = sum(g != lbl and p == lbl for g, p in zip(gold, preds))
        fn = sum(g == lbl and p != lbl for g, p in zip(gold, preds))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        f1s.append(f1)
        print(f"{lbl:<12}{prec:>10.3f}{rec:>10.3f}{f1:>8.3f}{tp + fn:>9}")
    print(f"\nmacro-F1       {sum(f1s) / len(f1s):.4f}")
    print(f"ECE (10 bins)  {ece(confs, correct):.4f}")
    print(f"mean conf      {sum(confs) / len(confs):.4f}")
    print("\nconfusion (rows = gold, columns = predicted)")
    print(" " * 12 + "".join(f"{lbl[:6]:>7}" for lbl in labels))
    for g in labels:
        counts = [sum(a == g and b == p for a, b in zip(gold, preds)) for p in labels]
        print(f"{g:<12}" + "".join(f"{c:>7}" for c in counts))
    if args.errors:
        print("\nerrors")
        for (g, text), p, c in zip(rows, preds, confs):
            if g != p:
                print(f"  {g:>10} -> {p:<10} {c:.2f}  {text[:100]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
