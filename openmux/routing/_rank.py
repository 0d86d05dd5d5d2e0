"""Ranking: order a plan's pairs by the settings' strategy and policy, with a reason each.

    strategy "ordered": [router] prefer, then provider order.
    strategy "best", by [router] policy:
      quality   prefer > task quality > latency > availability > order
      latency   prefer > latency > task quality > availability > order
      balanced  prefer > quality minus a latency penalty > ... > order

Quality is the user's own bench score for the task where `openmux bench` measured one
(moved by votes), else the catalog's figure (code, vision, else chat); a model the
catalog does not know is neutral (the median). Latency is the health store's p95
first-token time in doubling buckets (<= 1 s, 2 s, 4 s, ...), so noise never reorders
providers; under "quality" an unmeasured model counts as fast (worth trying).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from openmux.quality import local_quality

if TYPE_CHECKING:
    from openmux.catalog import Catalog
    from openmux.config import Settings
    from openmux.routing._plan import Pair

_FAST_MS = 1000.0
_NEUTRAL_BUCKET = 1  # 1-2 s: what an unmeasured model is assumed to take (latency policy)
_BALANCED_LATENCY_WEIGHT = 0.08  # share of the quality range one latency doubling costs


def score_task(task: str, vision: bool) -> str:
    """The catalog task whose quality figure ranks this request."""
    if vision:
        return "vision"
    return "code" if task == "code" else "chat"


def latency_bucket(p95_ms: float | None, unknown: int) -> int:
    if p95_ms is None:
        return unknown
    if p95_ms <= _FAST_MS:
        return 0
    return min(8, 1 + int(math.log2(p95_ms / _FAST_MS)))


def quality_of(catalog: Catalog, pair: Pair, task_key: str) -> tuple[float, str]:
    """The pair's quality for a task and the phrase that explains it (cached on the pair)."""
    known = pair.static.get(task_key)
    if known is not None:
        return known
    score = catalog.score(pair.info, task_key)
    if score is not None:
        value, phrase = score.value, score.phrase()
    else:
        value = catalog.neutral.get(task_key, 0.0)
        phrase = (
            "is not in the catalog (neutral score)"
            if pair.info is None
            else f"has no {task_key} score (neutral)"
        )
    known = (value, f"{pair.entry.id} {phrase}, {'free' if pair.free else 'paid'}")
    pair.static[task_key] = known
    return known


def rank(
    catalog: Catalog,
    settings: Settings,
    pairs: list[Pair],
    task: str,
    latency: Callable[[Pair], float | None],
    benched: frozenset[tuple[str, str]] = frozenset(),
    *,
    needs_tools: bool = False,
    vision: bool = False,
    long_context: int = 0,
    keep_order: bool = False,
) -> tuple[list[Pair], list[str]]:
    """Order `pairs` by the settings' strategy and policy; a reason for each."""
    task_key = score_task(task, vision)
    ordered = settings.strategy == "ordered" or keep_order
    policy = settings.policy
    low, high = catalog.ranges.get(task_key, (0.0, 1.0))
    span = (high - low) or 1.0
    rows: list[tuple[tuple[Any, ...], Pair, str, float | None]] = []
    # The user's own bench scores and votes come before the catalog's published score, on
    # the catalog's scale for the task; the reason says so.
    local = local_quality(task_key, settings.state_dir)
    for pair in pairs:
        quality, phrase = quality_of(catalog, pair, task_key)
        mine = local.get((pair.provider.name, pair.entry.id))
        if mine is not None:
            quality = mine.score(quality, low, high)
            phrase = mine.reason(phrase, pair.entry.id, pair.free)
        p95 = latency(pair)
        if ordered:
            sort_key: tuple[Any, ...] = (pair.pin, pair.p_index, pair.m_index)
        elif policy == "latency":
            bucket = latency_bucket(p95, _NEUTRAL_BUCKET)
            sort_key = (pair.pin, bucket, -quality, pair.assumed, pair.p_index, pair.m_index)
        elif policy == "balanced":
            bucket = latency_bucket(p95, _NEUTRAL_BUCKET)
            value = (quality - low) / span - _BALANCED_LATENCY_WEIGHT * bucket
            sort_key = (pair.pin, -round(value, 6), pair.assumed, pair.p_index, pair.m_index)
        else:
            bucket = latency_bucket(p95, 0)
            sort_key = (pair.pin, -quality, bucket, pair.assumed, pair.p_index, pair.m_index)
        rows.append((sort_key, pair, phrase, p95))
    if not keep_order:
        rows.sort(key=lambda row: row[0])
    needs = [
        label
        for label, wanted in (
            ("tool-capable", needs_tools),
            ("vision", vision),
            (f"prompt over {long_context} tokens", long_context > 0),
        )
        if wanted
    ]
    head = f"{task} ({', '.join(needs)}): " if needs else f"{task}: "
    prefer = settings.prefer
    reasons = []
    for rank_no, (_, pair, phrase, p95) in enumerate(rows, start=1):
        reason = head + phrase + ", " + _health_phrase(pair, benched)
        reason += f", p95 {p95 / 1000:.1f} s" if p95 is not None else ", no latency yet"
        if pair.pin < len(prefer):
            reason += f", preferred ({prefer[pair.pin]})"
        if ordered:
            reason += f", #{rank_no} in provider order"
        reasons.append(reason)
    return [row[1] for row in rows], reasons


def _health_phrase(pair: Pair, benched: frozenset[tuple[str, str]]) -> str:
    name = pair.provider.name
    if benched and ((name, pair.entry.id) in benched or (name, "*") in benched):
        return "benched (skipped until it recovers)"
    if pair.assumed:
        return "server not probed"
    return "healthy"
