"""The semantic index: earlier requests of one scope, by the meaning of their last user turn.

Each entry is the embedding of a request's last user turn (the bundled multilingual
model, in process, offline) and the text itself, stored under the request's exact key
in a space of its scope, so only requests alike in everything but that text are compared.
A new request finds the most similar earlier one; it is a hit when the cosine similarity
reaches the threshold and the two texts agree on their particulars (`same_particulars`:
numbers, negation), which embeddings of near-identical sentences blur.
"""

from __future__ import annotations

import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from openmux.cache._particulars import same_particulars

if TYPE_CHECKING:
    from openmux.cache._key import RequestKey
    from openmux.state import StateBackend

Embed = Callable[[str], Sequence[float]]

_HEADER = struct.Struct("<I")  # the vector's dimension count, then float32s, then the text
_REMEMBERED = 64
LONGEST_TEXT = 500
"""Characters of the longest text compared by meaning. The model reads 512 tokens (fewer
characters in Chinese or Japanese), so two pasted documents alike at the start would look
the same; longer texts are matched exactly only."""


def scope_space(scope: str) -> str:
    return f"cache.semantic.{scope}"


def local_embed(text: str) -> Sequence[float]:
    """The bundled model's unit-length embedding of `text` (loaded on first use)."""
    from openmux.local import LocalEmbeddings

    return LocalEmbeddings().embed_query(text)


class SemanticIndex:
    def __init__(self, store: StateBackend, similarity: float, embed: Embed = local_embed) -> None:
        self.store = store
        self.similarity = similarity
        self.embed = embed
        # A miss embeds the text, then the answer is added under the same text: embed once.
        self._vectors: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def find(self, key: RequestKey) -> str | None:
        """The exact key of the most similar earlier request that counts as the same one."""
        if not 0 < len(key.text) <= LONGEST_TEXT:
            return None
        import numpy as np

        vector = self._vector(key.text)
        keys, texts, rows = [], [], []
        for exact, value in self.store.blobs(scope_space(key.scope)):
            entry = _decode(value)
            if entry is not None and entry[0].shape == vector.shape:
                keys.append(exact)
                rows.append(entry[0])
                texts.append(entry[1])
        if not rows:
            return None
        scores = np.stack(rows) @ vector
        for index in np.argsort(-scores):
            if scores[index] < self.similarity:
                break
            if same_particulars(key.text, texts[index]):
                return keys[index]
        return None

    def add(self, key: RequestKey, ttl_s: float) -> None:
        if not 0 < len(key.text) <= LONGEST_TEXT:
            return
        vector = self._vector(key.text)
        value = _HEADER.pack(vector.size) + vector.tobytes() + key.text.encode()
        self.store.put_blob(scope_space(key.scope), key.exact, value, ttl_s)

    def _vector(self, text: str) -> Any:
        import numpy as np

        with self._lock:
            vector = self._vectors.get(text)
            if vector is not None:
                self._vectors.move_to_end(text)
                return vector
        vector = np.asarray(self.embed(text), dtype=np.float32)
        norm = float(np.linalg.norm(vector))
        if norm > 0:
            vector = vector / norm
        with self._lock:
            self._vectors[text] = vector
            while len(self._vectors) > _REMEMBERED:
                self._vectors.popitem(last=False)
        return vector


def _decode(value: bytes) -> tuple[Any, str] | None:
    import numpy as np

    if len(value) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack_from(value)
    end = _HEADER.size + 4 * size
    if len(value) < end:
        return None
    vector = np.frombuffer(value, dtype=np.float32, count=size, offset=_HEADER.size)
    return vector, value[end:].decode(errors="replace")
