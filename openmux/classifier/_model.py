"""The trained linear model: loads the npz artifact lazily and scores one text.

Score = bias + words . W / sqrt(#word grams) + chars . W / sqrt(#char grams)
+ dense . W_dense + mean of the known words' semantic rows, where W is the hashed
gram table (see `_features`); probabilities are softmax(score / temperature).

The semantic rows follow the hashed ones in the same table, one per word of a fixed
vocabulary: each is the word's contribution to the label scores through its vector
from a multilingual sentence-embedding model, distilled at training time (see
tools/classifier/semantic.py). A word no training example holds still scores like
the words it means the same as, in whatever language.

Scoring makes a handful of numpy calls (gather the grams' rows, sum the char rows,
back to Python); the rest is plain Python over seven labels. Between requests the
router runs the HTTP stack, and each cold numpy call then costs 10-30 µs here,
several times the arithmetic it does.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openmux.classifier._features import (
    CHAR_SEED,
    buckets,
    char_grams,
    extract,
    fold,
    normalize,
)

LABELS = ("chat", "code", "tts", "audio", "embeddings", "image", "other")
ARTIFACT = Path(__file__).resolve().parent / "data" / "model.npz"

_lock = threading.Lock()
_model: Model | None = None


@dataclass
class Scored:
    """Raw scores of one text, with its word grams and their weight rows for explanations."""

    logits: list[float]
    words: list[str]
    rows: np.ndarray  # the gathered weight rows, the word grams' first
    word_scale: float
    char_scale: float

    def word_rows(self) -> list[list[float]]:
        return self.rows[: len(self.words)].tolist()


class Model:
    def __init__(self, path: Path = ARTIFACT) -> None:
        with np.load(path) as z:
            self.labels = tuple(z["labels"].tobytes().decode().split("\n"))
            self.weights = z["weights"].astype(np.float32)
            self.w_dense = z["w_dense"].astype(np.float64).tolist()
            self.bias = z["bias"].astype(np.float64).tolist()
            self.temperature = float(z["temperature"][0])
            vocabulary = z["semantic_words"].tobytes().decode().split("\n")
        first = len(self.weights) - len(vocabulary)
        self.semantic_rows = {word: first + i for i, word in enumerate(vocabulary)}

    def score(self, text: str) -> Scored:
        features = extract(text)
        n_words = len(features.words)
        n_grams = len(features.rows)
        n_chars = n_grams - n_words
        known = [r for w in features.words if (r := self.semantic_rows.get(w)) is not None]
        indices = features.rows + known
        # `take` gathers the same rows as fancy indexing, at half its cost; `fromiter` with
        # the type given skips the type discovery `np.array` does for each list item.
        rows = self.weights.take(np.fromiter(indices, np.intp, len(indices)), axis=0)
        logits = list(self.bias)
        for value, weights in zip(features.dense, self.w_dense, strict=True):
            if value:
                _add(logits, weights, value)
        # The three families are summed, each with its scale, in one numpy product
        # (adding rows one by one in Python, or one sum per family, cost more).
        ws = 1.0 / math.sqrt(n_words) if n_words else 0.0
        cs = 1.0 / math.sqrt(n_chars) if n_chars else 0.0
        family_scales = np.array((ws, cs, 1.0 / len(known) if known else 0.0), np.float32)
        scales = family_scales.repeat((n_words, n_chars, len(known)))
        _add(logits, (scales @ rows).tolist(), 1.0)
        return Scored(logits, features.words, rows, ws, cs)

    def proba(self, logits: list[float]) -> list[float]:
        z = [v / self.temperature for v in logits]
        top = max(z)
        e = [math.exp(v - top) for v in z]
        total = sum(e)
        return [v / total for v in e]

    def cues(self, scored: Scored, label: int, text: str, limit: int = 3) -> list[str]:
        """The grams that pushed hardest towards ``label``, as readable words."""
        # Strongest first, each gram checked only until `limit` are found (most are never
        # looked at).
        ranked = _contributions(scored.words, scored.word_rows(), label, scored.word_scale)
        out = _quoted(sorted(ranked, key=_strongest), limit, informative=True)
        if out:
            return out
        # No telling word (e.g. a script without spaces): quote the words around char grams.
        chars = list(char_grams(normalize(text)))
        char_rows = self.weights[buckets(chars, CHAR_SEED)].tolist()
        lowered = fold(text)
        found = []
        for c, gram in _contributions(chars, char_rows, label, scored.char_scale):
            word = _word_around(lowered, gram.strip())
            if word and _informative(word):
                found.append((c, word))
        return _quoted(sorted(found, key=_strongest), limit, informative=False)


def _strongest(found: tuple[float, str]) -> tuple[float, str]:
    return -found[0], found[1]


def _quoted(ranked: list[tuple[float, str]], limit: int, *, informative: bool) -> list[str]:
    """Up to `limit` grams from the strongest, none inside another already taken (and
    only informative ones, unless that was checked already)."""
    out: list[str] = []
    for _, g in ranked:
        if informative and not _informative(g):
            continue
        if not any(g in o or o in g for o in out):
            out.append(g)
        if len(out) == limit:
            break
    return out


def _add(logits: list[float], weights: list[float], scale: float) -> None:
    for k, w in enumerate(weights):
        logits[k] += w * scale


def argmax(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def _contributions(
    grams: list[str], rows: list[list[float]], label: int, scale: float
) -> list[tuple[float, str]]:
    """How much each gram favours ``label`` over the average label."""
    out = []
    for gram, row in zip(grams, rows, strict=True):
        c = (row[label] - sum(row) / len(row)) * scale
        if c > 0.05:
            out.append((c, gram))
    return out


_STOP_WORDS = (
    "a an the it its to of in on at for with and or me my i you your this that these those is "
    "are be was do can could would please pls some any from by as so just now also then"
)
_STOP = frozenset(_STOP_WORDS.split())


def _informative(gram: str) -> bool:
    """A word gram worth quoting: has letters or digits, is not only stop words and
    holds no word-class token (those read as the class name, not as the user's words)."""
    return not any(ch.isupper() for ch in gram) and any(
        any(ch.isalnum() for ch in p) and p not in _STOP for p in gram.split()
    )


def _word_around(text: str, gram: str) -> str:
    if len(gram) < 2:
        return ""
    i = text.find(gram)
    if i < 0:
        return ""
    lo, hi = i, i + len(gram)
    while lo > 0 and not text[lo - 1].isspace() and hi - lo < 24:
        lo -= 1
    while hi < len(text) and not text[hi].isspace() and hi - lo < 24:
        hi += 1
    return text[lo:hi].strip(".,;:!?\"'()[]{}")


def get_model() -> Model:
    """Load the artifact once per process (thread-safe)."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                _model = Model()
    return _model
