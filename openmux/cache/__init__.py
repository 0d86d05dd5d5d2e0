"""The response cache: a repeated request is answered from an earlier answer.

`[cache] mode = "exact"` replays the answer of an identical request (`request_key`:
the normalised messages plus everything that changes the answer); `"semantic"` also
replays the answer of an earlier request that differs only in the wording of its last
user turn (`SemanticIndex`, the bundled multilingual embedding model). Answers live in
the state backend (openmux.state) for `ttl_s` seconds, shared by every process using it.

The routing layer asks before classifying and keeps an answer once it is complete; a
hit makes no provider request and spends no quota. Importing this package loads
neither numpy nor the embedding model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from openmux.cache._entry import CachedAnswer
from openmux.cache._key import RequestKey, answer_options, normalise_messages, request_key
from openmux.cache._particulars import same_particulars
from openmux.cache._semantic import SemanticIndex, local_embed
from openmux.cache._store import ANSWERS_SPACE, BlobStore, ResponseCache

if TYPE_CHECKING:
    from openmux.config import Settings

__all__ = [
    "ANSWERS_SPACE",
    "BlobStore",
    "CachedAnswer",
    "RequestKey",
    "ResponseCache",
    "SemanticIndex",
    "answer_options",
    "local_embed",
    "normalise_messages",
    "request_key",
    "response_cache",
    "same_particulars",
]


def response_cache(settings: Settings, store: BlobStore | None = None) -> ResponseCache | None:
    """The response cache `settings` ask for (None when `[cache] mode` is off), over
    `store` or else the configured state backend."""
    cache = settings.cache
    if cache.mode == "off":
        return None
    if store is None:
        from openmux.state import state_backend

        store = state_backend(settings.state_dir)
    semantic = SemanticIndex(store, cache.similarity) if cache.mode == "semantic" else None
    return ResponseCache(cache, store, semantic)
