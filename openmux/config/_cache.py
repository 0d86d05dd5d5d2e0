"""The `[cache]` table of openmux.toml: the response cache.

```toml
[cache]
mode = "off"        # off | exact | semantic
ttl_s = 86400       # seconds an answer is kept
similarity = 0.95   # semantic mode: the least similarity of a hit (0 to 1)
```
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from openmux.config._layer import expect

if TYPE_CHECKING:
    from openmux.config._layer import Layer

CacheMode = Literal["off", "exact", "semantic"]
CACHE_MODES: tuple[str, ...] = ("off", "exact", "semantic")
CACHE_KEYS = {"mode", "ttl_s", "similarity"}

DEFAULT_SIMILARITY = 0.95
"""Chosen on one half of the labelled paraphrase set (benchmarks/cache.py reports the other)."""


@dataclass(frozen=True)
class CacheSettings:
    mode: CacheMode = "off"
    ttl_s: float = 86400.0
    similarity: float = DEFAULT_SIMILARITY


def parse_cache(layer: Layer, current: CacheSettings, sources: dict[str, str]) -> CacheSettings:
    """Merge one layer's `[cache]` table over `current`; ConfigError on a mistake."""
    table = layer.table("cache")
    layer.check_keys(table, CACHE_KEYS, "cache")
    changes: dict[str, Any] = {}
    if "mode" in table:
        if table["mode"] not in CACHE_MODES:
            raise layer.error(
                f"[cache] mode = {table['mode']!r} is not a cache mode",
                "mode",
                "cache",
                'use "off", "exact" or "semantic"',
            )
        changes["mode"] = table["mode"]
    if "ttl_s" in table:
        ttl = expect(layer, table["ttl_s"], (int, float), "ttl_s", "cache", "seconds, e.g. 86400")
        if ttl <= 0:
            raise layer.error("[cache] ttl_s must be positive", "ttl_s", "cache", "seconds > 0")
        changes["ttl_s"] = float(ttl)
    if "similarity" in table:
        similarity = expect(
            layer, table["similarity"], (int, float), "similarity", "cache", "0 to 1, e.g. 0.95"
        )
        if not 0 < similarity <= 1:
            raise layer.error(
                f"[cache] similarity = {similarity} is not a cosine similarity in (0, 1]",
                "similarity",
                "cache",
                f"a number above 0 and at most 1, e.g. {DEFAULT_SIMILARITY}",
            )
        changes["similarity"] = float(similarity)
    for key in changes:
        sources[f"cache.{key}"] = layer.source
    return replace(current, **changes)
