"""The response cache: answers kept in the state backend under their request's key.

Exact mode finds an answer by the request's exact key. Semantic mode also asks the
semantic index (`_semantic`) for an earlier request of the same scope whose last user
turn says the same thing, and replays that request's answer.

The cache never fails a request: if the state backend cannot be read or written, the
request is answered as if the cache were off, and one warning says so.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from openmux.cache._entry import CachedAnswer

if TYPE_CHECKING:
    from openmux.cache._key import RequestKey
    from openmux.cache._semantic import SemanticIndex
    from openmux.config import CacheSettings

logger = logging.getLogger("openmux")

ANSWERS_SPACE = "cache.answers"


class BlobStore(Protocol):
    """The part of the state backend the cache uses (see openmux.state)."""

    @property
    def name(self) -> str: ...

    def get_blob(self, space: str, key: str) -> bytes | None: ...

    def put_blob(self, space: str, key: str, value: bytes, ttl_s: float) -> None: ...

    def blobs(self, space: str) -> Iterator[tuple[str, bytes]]: ...


class ResponseCache:
    def __init__(
        self, settings: CacheSettings, store: BlobStore, semantic: SemanticIndex | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.semantic = semantic
        self._warned = False
        self._warn_lock = threading.Lock()

    def get(self, key: RequestKey) -> CachedAnswer | None:
        try:
            found = self.store.get_blob(ANSWERS_SPACE, key.exact)
            if found is None and self.semantic is not None:
                nearest = self.semantic.find(key)
                if nearest is not None:
                    found = self.store.get_blob(ANSWERS_SPACE, nearest)
        except Exception as exc:  # a cache outage answers as a miss, see the module doc
            self._warn(exc)
            return None
        return None if found is None else CachedAnswer.from_bytes(found)

    def put(self, key: RequestKey, answer: CachedAnswer) -> None:
        ttl_s = self.settings.ttl_s
        try:
            self.store.put_blob(ANSWERS_SPACE, key.exact, answer.to_bytes(), ttl_s)
            if self.semantic is not None:
                self.semantic.add(key, ttl_s)
        except Exception as exc:
            self._warn(exc)

    def _warn(self, exc: Exception) -> None:
        with self._warn_lock:
            if self._warned:
                return
            self._warned = True
        logger.warning(
            "response cache unavailable (%s backend: %s); answering without it",
            self.store.name,
            type(exc).__name__,
        )
