"""The response cache: answers kept in the state backend under their request's key.

Exact mode finds an answer by the request's exact key. Semantic mode also asks the
semantic index (`_semantic`) for an earlier request of the same scope whose last user
turn says the same thing, and replays that request's answer.

The cache never fails a request: the state backend degrades to a miss (nothing found,
nothing kept) when it cannot be reached, and says so once (see openmux.state).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from openmux.cache._entry import CachedAnswer

if TYPE_CHECKING:
    from openmux.cache._key import RequestKey
    from openmux.cache._semantic import SemanticIndex
    from openmux.config import CacheSettings
    from openmux.state import StateBackend

ANSWERS_SPACE = "cache.answers"


class ResponseCache:
    def __init__(
        self, settings: CacheSettings, store: StateBackend, semantic: SemanticIndex | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.semantic = semantic

    def get(self, key: RequestKey) -> CachedAnswer | None:
        found = self.store.get_blob(ANSWERS_SPACE, key.exact)
        if found is None and self.semantic is not None:
            nearest = self.semantic.find(key)
            if nearest is not None:
                found = self.store.get_blob(ANSWERS_SPACE, nearest)
        return None if found is None else CachedAnswer.from_bytes(found)

    def put(self, key: RequestKey, answer: CachedAnswer) -> None:
        ttl_s = self.settings.ttl_s
        self.store.put_blob(ANSWERS_SPACE, key.exact, answer.to_bytes(), ttl_s)
        if self.semantic is not None:
            self.semantic.add(key, ttl_s)
