"""The response cache: semantic hit and wrong-hit rates, and what a hit and a miss cost.

Accuracy, on the labelled pairs in benchmarks/data/cache_pairs_*.tsv (each pair: an
earlier request and a later one, in several languages; `paraphrase` pairs should share
an answer, the near misses must not: another number, a negation, another language to
translate into, another entity, code instead of prose). The pairs are split in two
halves (alternate rows, so both halves hold every kind and language): the similarity
threshold is chosen on the tuning half (the lowest whose wrong-hit rate there is at most
1 %), and the rates are reported on the other half only.

  hit rate       paraphrase pairs whose later request is answered from the earlier one
  wrong-hit rate near-miss pairs whose later request is (wrongly) answered that way

Cost, against the loopback fake provider (sequential invokes, p50 in ms): no cache, an
exact-mode miss and hit, a semantic-mode miss and hit, with the SQLite state backend.
Target: >= 20 % hits at <= 1 % wrong hits.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from openmux.config import DEFAULT_SIMILARITY

DATA = Path(__file__).resolve().parent / "data"
WRONG_AT_MOST = 0.01
COST_RUNS = 60


@dataclass(frozen=True)
class Pair:
    kind: str
    lang: str
    first: str
    second: str

    @property
    def same(self) -> bool:
        return self.kind == "paraphrase"


def load_pairs() -> list[Pair]:
    pairs: list[Pair] = []
    for path in sorted(DATA.glob("cache_pairs_*.tsv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                pairs.append(Pair(row["kind"], row["lang"], row["first"], row["second"]))
    return pairs


def scored(pairs: list[Pair]) -> list[tuple[Pair, float, bool]]:
    """(pair, cosine similarity, whether the particulars agree) per pair."""
    import numpy as np

    from openmux.cache import local_embed, same_particulars

    texts = sorted({t for p in pairs for t in (p.first, p.second)})
    vectors = {t: np.asarray(local_embed(t), dtype=np.float32) for t in texts}
    return [
        (
            p,
            float(np.dot(vectors[p.first], vectors[p.second])),
            same_particulars(p.first, p.second),
        )
        for p in pairs
    ]


Row = tuple[Pair, float, bool]


def rates(rows: list[Row], threshold: float, guard: bool) -> tuple[float, float]:
    same = [r for r in rows if r[0].same]
    other = [r for r in rows if not r[0].same]

    def hit(row: tuple[Pair, float, bool]) -> bool:
        return row[1] >= threshold and (row[2] or not guard)

    return sum(map(hit, same)) / len(same), sum(map(hit, other)) / len(other)


def choose(rows: list[tuple[Pair, float, bool]], guard: bool) -> float:
    """The lowest threshold whose wrong-hit rate on `rows` is at most WRONG_AT_MOST."""
    for threshold in sorted({round(r[1], 4) for r in rows}):
        if rates(rows, threshold, guard)[1] <= WRONG_AT_MOST:
            return threshold
    return 1.0


def accuracy() -> float:
    pairs = load_pairs()
    rows = scored(pairs)
    tuning, held_out = rows[0::2], rows[1::2]
    kinds = sorted({p.kind for p in pairs})
    langs = sorted({p.lang for p in pairs})
    print(
        f"pairs: {len(pairs)} ({sum(p.same for p in pairs)} paraphrase, "
        f"{sum(not p.same for p in pairs)} near misses: "
        + ", ".join(f"{k} {sum(p.kind == k for p in pairs)}" for k in kinds if k != "paraphrase")
        + f"); languages: {', '.join(langs)}"
    )
    print(f"tuning half {len(tuning)} pairs, held-out half {len(held_out)} pairs")
    chosen = 0.0
    for guard in (False, True):
        threshold = choose(tuning, guard)
        hit, wrong = rates(held_out, threshold, guard)
        label = "similarity + particulars" if guard else "similarity alone        "
        print(
            f"  {label}: threshold {threshold:.4f} (tuning half) -> held-out half: "
            f"hit rate {hit:.1%}, wrong-hit rate {wrong:.1%}"
        )
        if guard:
            chosen = threshold
            misses = [r for r in held_out if not r[0].same and r[1] >= threshold and r[2]]
            for pair, score, _ in misses:
                print(f"    wrong hit ({pair.kind}, {score:.4f}): {pair.first!r} ~ {pair.second!r}")
            per_language = {
                lang: rates([r for r in held_out if r[0].lang == lang], threshold, True)[0]
                for lang in langs
            }
            by_lang = ", ".join(f"{lang} {hit:.0%}" for lang, hit in per_language.items())
            print(f"    held-out hit rate per language: {by_lang}")
            same = sum(r[0].same for r in held_out)
            hits = sum(r[0].same and r[1] >= threshold and r[2] for r in held_out)
            wrong = sum(not r[0].same and r[1] >= threshold and r[2] for r in held_out)
            print(f"    held-out counts: {hits}/{same} hits, {wrong}/{len(held_out) - same} wrong")
    swapped = choose(held_out, True)
    hit, wrong = rates(tuning, swapped, True)
    print(
        f"  halves swapped (a check): threshold {swapped:.4f} -> the other half: "
        f"hit rate {hit:.1%}, wrong-hit rate {wrong:.1%}"
    )
    default = DEFAULT_SIMILARITY
    hit, wrong = rates(held_out, default, True)
    print(
        f"  the default [cache] similarity = {default} -> held-out half: "
        f"hit rate {hit:.1%}, wrong-hit rate {wrong:.1%}"
    )
    return chosen


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cost(similarity: float) -> None:
    from _fake import fake_server

    from openmux import ChatOpenMux

    with fake_server("--provider", "p", "--model", "m-1") as url:
        providers = {"p": {"protocol": "openai", "base_url": f"{url}/p/v1", "models": ["m-1"]}}

        def model(mode: str) -> ChatOpenMux:
            cache = {"mode": mode, "similarity": similarity}
            config = {"router": {"providers": ["p"]}, "providers": providers, "cache": cache}
            return ChatOpenMux(config=config)

        def timed(llm: ChatOpenMux, prompt: str) -> tuple[float, bool]:
            """Milliseconds of one invoke, and whether the cache answered it."""
            started = time.perf_counter()
            message = llm.invoke(prompt)
            spent = (time.perf_counter() - started) * 1000
            return spent, bool(message.response_metadata["openmux"]["cached"])

        off, exact, semantic = model("off"), model("exact"), model("semantic")
        for llm in (off, exact, semantic):  # warm: connections, classifier, embedding model
            for i in range(5):
                timed(llm, f"warm up {i}")
        names = ("no cache", "exact miss", "exact hit", "semantic miss", "semantic hit")
        results: dict[str, list[tuple[float, bool]]] = {name: [] for name in names}
        # Interleaved, so that the machine's load drifts alike for every row.
        for i in range(COST_RUNS):
            asked = f"explain recursion in one sentence, example {i}"
            results["no cache"].append(timed(off, f"Now {asked}"))
            results["exact miss"].append(timed(exact, f"So {asked}"))
            results["exact hit"].append(timed(exact, f"So {asked}"))
            results["semantic miss"].append(timed(semantic, f"Please, {asked}"))
            results["semantic hit"].append(timed(semantic, f"Please {asked}!"))
        rows = [
            (name, ([t for t, _ in runs], sum(c for _, c in runs)))
            for name, runs in results.items()
        ]
        base = statistics.median(rows[0][1][0])
        print(f"per-request cost, {COST_RUNS} sequential invokes each (SQLite state, loopback):")
        for name, (spent, cached) in rows:
            p50 = statistics.median(spent)
            print(
                f"  {name:14} p50 {p50:7.2f} ms  p95 {percentile(spent, 0.95):7.2f} ms  "
                f"({p50 - base:+.2f} ms vs no cache; {cached}/{len(spent)} from the cache)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-cost", action="store_true", help="accuracy figures only")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        import os

        os.environ["OPENMUX_STATE_DIR"] = state
        threshold = accuracy()
        if not arguments.no_cost:
            cost(threshold)


if __name__ == "__main__":
    main()
