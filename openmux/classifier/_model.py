"""The trained linear model: loads the npz artifact lazily and scores one text.

Score = bias + words . W_words / sqrt(#word grams) + chars . W_chars / sqrt(#char grams)
+ dense . W_dense; probabilities are softmax(score / temperature).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

import numpy as np

from openmux.classifier._features import char_grams, dense_features, normalize, word_grams

LABELS = ("chat", "code", "tts", "audio", "embeddings", "image", "other")
ARTIFACT = Path(__file__).resolve().parent / "data" / "model.npz"

_lock = threading.Lock()
_model: Model | None = None


@dataclass
class Scored:
    """Raw scores of one text plus its gram sets, for explanations."""

    logits: np.ndarray
    words: set[str]
    chars: set[str]
    word_scale: float
    char_scale: float


class Model:
    def __init__(self, path: Path = ARTIFACT) -> None:
        with np.load(path) as z:
            self.labels = tuple(z["labels"].tobytes().decode().split("\n"))
            words = z["word_vocab"].tobytes().decode("utf-8").split("\n")
            chars = z["char_vocab"].tobytes().decode("utf-8").split("\n")
            self.w_words = z["w_words"].astype(np.float32)
            self.w_chars = z["w_chars"].astype(np.float32)
            self.w_dense = z["w_dense"].astype(np.float32)
            self.bias = z["bias"].astype(np.float32)
            self.temperature = float(z["temperature"][0])
        self.word_index = {w: i for i, w in enumerate(words)}
        self.char_index = {c: i for i, c in enumerate(chars)}

    def score(self, text: str) -> Scored:
        norm = normalize(text)
        wg = word_grams(norm)
        cg = char_grams(norm)
        ws = 1.0 / math.sqrt(len(wg)) if wg else 0.0
        cs = 1.0 / math.sqrt(len(cg)) if cg else 0.0
        dense = np.array(dense_features(text, wg, cg), dtype=np.float32)
        logits = self.bias + dense @ self.w_dense
        if wg:
            logits += self._sum(self.w_words, self.word_index, wg) * ws
        if cg:
            logits += self._sum(self.w_chars, self.char_index, cg) * cs
        return Scored(logits, wg, cg, ws, cs)

    @staticmethod
    def _sum(weights: np.ndarray, index: dict[str, int], grams: set[str]) -> np.ndarray:
        idx = np.fromiter(map(index.get, grams, repeat(-1)), dtype=np.intp, count=len(grams))
        return weights.take(idx[idx >= 0], axis=0).sum(axis=0)

    def proba(self, logits: np.ndarray) -> np.ndarray:
        z = logits / self.temperature
        e = np.exp(z - z.max())
        return e / e.sum()

    def _contributions(
        self, weights: np.ndarray, index: dict[str, int], grams: set[str], label: int, scale: float
    ) -> list[tuple[float, str]]:
        known = [(g, j) for g in grams if (j := index.get(g)) is not None]
        if not known:
            return []
        w = weights.take([j for _, j in known], axis=0)
        contrib = (w[:, label] - w.mean(axis=1)) * scale
        return [(float(c), g) for (g, _), c in zip(known, contrib, strict=True) if c > 0.05]

    def cues(self, scored: Scored, label: int, text: str, limit: int = 3) -> list[str]:
        """The grams that pushed hardest towards ``label``, as readable words."""
        found = [
            (c, g)
            for c, g in self._contributions(
                self.w_words, self.word_index, scored.words, label, scored.word_scale
            )
            if _informative(g)
        ]
        if not found:
            lowered = text.casefold()
            for c, gram in self._contributions(
                self.w_chars, self.char_index, scored.chars, label, scored.char_scale
            ):
                word = _word_around(lowered, gram.strip())
                if word and _informative(word):
                    found.append((c, word))
        found.sort(key=lambda t: -t[0])
        out: list[str] = []
        for _, g in found:
            if not any(g in o or o in g for o in out):
                out.append(g)
            if len(out) == limit:
                break
        return out


_STOP_WORDS = (
    "a an the it its to of in on at for with and or me my i you your this that these those is "
    "are be was do can could would please pls some any from by as so just now also then"
)
_STOP = frozenset(_STOP_WORDS.split())


def _informative(gram: str) -> bool:
    """A word gram worth quoting: has letters or digits and is not only stop words."""
    return any(any(ch.isalnum() for ch in p) and p not in _STOP for p in gram.split())


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
