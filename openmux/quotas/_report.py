"""`openmux stats` and `openmux.usage()`: the recorded attempts, summed per model.

Per provider and model: requests sent, success rate, p50/p95 latency, tokens, the top
failure kinds, skips for quota, answers replayed from the response cache (`cached`: no
request, no tokens, not counted as requests), requests today against each free limit,
and what the same tokens would have cost at paid list prices (spent: $0, unless
free_only was turned off and a paid model answered).
"""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openmux.config import LIMIT_KEYS
from openmux.quotas._limits import Limits, day_start, next_reset, table_limits
from openmux.quotas._prices import list_price
from openmux.quotas._usage import UsageRecord, usage_log

if TYPE_CHECKING:
    from openmux.config import Settings

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)\s*([mhdw])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """`7d`, `24h`, `30m`, `2w` ago, or a date or time (`2026-12-01`, `...T19:00:00Z`;
    UTC unless it says otherwise): epoch seconds."""
    now = time.time() if now is None else now
    value = text.strip().lower()
    match = _SPAN.match(value)
    if match is not None:
        # A span longer than the epoch's age asks for everything: from the epoch on.
        return max(0.0, now - float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    try:
        stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--since {text!r} is not a span or a date; use 7d, 24h, 30m, 2w or 2026-12-01"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(share * 100) - 1], 1)


def usage(
    since: str | float = "7d",
    *,
    state_dir: str | Path | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """What OpenMux sent where: the same data `openmux stats --json` prints.

    `since`: a span (`7d`, `24h`) or a date, or epoch seconds. `state_dir`: where the
    records are (default: OPENMUX_STATE_DIR or the user state dir)."""
    now = time.time()
    start = since if isinstance(since, (int, float)) else parse_since(since, now)
    if settings is None:
        settings = _settings_or_none()
    if state_dir is None and settings is not None:
        state_dir = settings.state_dir
    # Each model's requests today count against its daily limits, however short the span.
    first = min(start, day_start(now, "utc"), day_start(now, "pacific"))
    rows = usage_log(Path(state_dir) if state_dir is not None else None).rows(first)
    return summarize(rows, start, now, settings)


def _settings_or_none() -> Settings | None:
    from openmux.config import load_settings
    from openmux.errors import ConfigError

    try:
        return load_settings()
    except ConfigError:  # stats still show what was recorded; limits come from the table
        return None


def _limits(provider: str, model: str, settings: Settings | None) -> Limits:
    if settings is not None and provider in settings.providers:
        from openmux.quotas._gate import QuotaGate

        return QuotaGate(settings.state_dir).scope(settings.providers[provider], model)[1]
    return table_limits(provider, model)


def summarize(
    rows: Iterable[UsageRecord], start: float, now: float, settings: Settings | None = None
) -> dict[str, Any]:
    """Per model, the rows since `start`; `today` counts every row given from the day's
    start on (rows before `start` count only there)."""
    groups: dict[tuple[str, str], list[UsageRecord]] = {}
    for row in rows:
        groups.setdefault((row.provider, row.model), []).append(row)
    models: list[dict[str, Any]] = []
    spent = 0.0
    for (provider, model), given in sorted(groups.items()):
        found = [r for r in given if r.at >= start]
        if not found:
            continue
        sent = [r for r in found if r.sent]
        ok = [r for r in sent if r.status == "ok"]
        latencies = [r.latency_ms for r in ok]
        tokens_in = sum(r.tokens_in for r in found)
        tokens_out = sum(r.tokens_out for r in found)
        limits = _limits(provider, model, settings)
        today_start = day_start(now, limits.reset)
        price = list_price(model)
        cost = None
        if price is not None:
            cost = round((tokens_in * price[0] + tokens_out * price[1]) / 1e6, 6)
        failures = Counter(r.status for r in sent if r.status != "ok")
        paid = (
            settings is not None
            and provider in settings.providers
            and not settings.providers[provider].is_free(model)
        )
        if paid and cost is not None:
            spent += cost
        models.append(
            {
                "provider": provider,
                "model": model,
                "requests": len(sent),
                "ok": len(ok),
                "success_rate": round(len(ok) / len(sent), 4) if sent else None,
                "p50_ms": _percentile(latencies, 0.50),
                "p95_ms": _percentile(latencies, 0.95),
                "tokens_in": tokens_in,
                "tokens_out": tokens_out,
                "failures": dict(failures.most_common(3)),
                "over_quota": sum(1 for r in found if r.status == "over_quota"),
                "cached": sum(1 for r in found if r.cached),
                "today": sum(1 for r in given if r.sent and r.at >= today_start),
                "limits": {
                    name: getattr(limits, name)
                    for name in LIMIT_KEYS
                    if getattr(limits, name) is not None
                },
                "limits_shared": limits.shared,
                "resets_at": _iso(next_reset(now, limits.reset)),
                "would_have_cost_usd": cost,
                "free": not paid,
                "price_source": price[2] if price is not None else None,
            }
        )
    costs = [m["would_have_cost_usd"] for m in models if m["would_have_cost_usd"] is not None]
    return {
        "since": _iso(start),
        "until": _iso(now),
        "requests": sum(m["requests"] for m in models),
        "ok": sum(m["ok"] for m in models),
        "cached": sum(m["cached"] for m in models),
        "tokens_in": sum(m["tokens_in"] for m in models),
        "tokens_out": sum(m["tokens_out"] for m in models),
        "spent_usd": round(spent, 6),
        "would_have_cost_usd": round(sum(costs), 6),
        "models": models,
    }
