"""Quota counters shared across hosts: the state server adds counts atomically (Lua).

Records of the "quota" space: `c SCOPE WINDOW` (fields: bucket -> count; joined by
SEPARATOR) and `l SCOPE` (field `changes`: the learned limits as JSON). Batches add with
ADD_SCRIPT; near a limit RESERVE_SCRIPT checks every window and counts in one step, so
hosts can never together send more than the limit.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from openmux.quotas._counts import CHECKS, MINUTE, REQUESTS_PER_DAY, REQUESTS_PER_MINUTE

if TYPE_CHECKING:
    from openmux.state import SharedState

SPACE = "quota"
SEPARATOR = "\x1f"
WINDOWS = tuple(window for _, window in CHECKS)
"""Requests per minute, per day, tokens per minute, per day (RESERVE_SCRIPT's order)."""
MINUTE_TTL = 180
DAY_TTL = 3 * 86400

ADD_SCRIPT = """
local below = tonumber(ARGV[1])
for i = 3, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
for _, bucket in ipairs(redis.call('HKEYS', KEYS[1])) do
  if tonumber(bucket) < below then redis.call('HDEL', KEYS[1], bucket) end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

LEARN_SCRIPT = """
redis.call('HSET', KEYS[1], 'changes', ARGV[1])
return 1
"""

# KEYS: the scope's m, d, M, D records. ARGV: oldest minute bucket (exclusive), today's
# bucket, this second, then limit (-1: none) and need for each window.
RESERVE_SCRIPT = """
local oldest, today, second = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local per_minute = {true, false, true, false}
local fits = 1
for i = 1, 4 do
  local used = 0
  if per_minute[i] then
    local fields = redis.call('HGETALL', KEYS[i])
    for j = 1, #fields, 2 do
      if tonumber(fields[j]) > oldest then used = used + tonumber(fields[j + 1]) end
    end
  else
    used = tonumber(redis.call('HGET', KEYS[i], today) or '0')
  end
  local limit, need = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  if limit >= 0 and used + need > limit then fits = 0 end
end
if fits == 1 then
  for i = 1, 4 do
    local need = tonumber(ARGV[3 + 2 * i])
    if need > 0 then
      if per_minute[i] then
        redis.call('HINCRBY', KEYS[i], second, need)
        redis.call('EXPIRE', KEYS[i], MINUTE_TTL)
      else
        redis.call('HINCRBY', KEYS[i], today, need)
        redis.call('EXPIRE', KEYS[i], DAY_TTL)
      end
    end
  end
end
local answer = {fits}
for i = 1, 4 do answer[#answer + 1] = redis.call('HGETALL', KEYS[i]) end
return answer
""".replace("MINUTE_TTL", str(MINUTE_TTL)).replace("DAY_TTL", str(DAY_TTL))


def counts_name(scope: str, window: str) -> str:
    return f"c{SEPARATOR}{scope}{SEPARATOR}{window}"


def learned_name(scope: str) -> str:
    return f"l{SEPARATOR}{scope}"


def learn_items(learned: Mapping[str, str]) -> list[tuple[list[str], list[object]]]:
    """LEARN_SCRIPT items for learned limits (JSON) by scope."""
    return [([learned_name(scope)], [text]) for scope, text in learned.items()]


def reserve_args(limits: Any, tokens: int, now: float, today: int) -> list[object]:
    """RESERVE_SCRIPT's ARGV for one request of about `tokens` under `limits`."""
    args: list[object] = [int(now) - MINUTE, today, int(now)]
    for name, window in CHECKS:
        limit = getattr(limits, name)
        need = 1 if window in (REQUESTS_PER_MINUTE, REQUESTS_PER_DAY) else tokens
        args += [-1 if limit is None else limit, need]
    return args


def add_items(
    counts: Mapping[tuple[str, str], Mapping[int, int]], now: float, minute_windows: Iterable[str]
) -> list[tuple[list[str], list[object]]]:
    """ADD_SCRIPT items for counts by (scope, window)."""
    per_minute = set(minute_windows)
    items: list[tuple[list[str], list[object]]] = []
    for (scope, window), buckets in counts.items():
        if not buckets:
            continue
        if window in per_minute:
            below, ttl = int(now) - 2 * 60, MINUTE_TTL
        else:
            below, ttl = int(now) - DAY_TTL, DAY_TTL
        args: list[object] = [below, ttl]
        for bucket, n in buckets.items():
            args += [bucket, n]
        items.append(([counts_name(scope, window)], args))
    return items


def parse_snapshot(
    records: Mapping[str, Mapping[str, str]],
) -> tuple[dict[tuple[str, str], dict[int, int]], dict[str, dict[str, Any]]]:
    """(counts by (scope, window), learned limits by scope); damaged records are skipped."""
    counts: dict[tuple[str, str], dict[int, int]] = {}
    learned: dict[str, dict[str, Any]] = {}
    for name, fields in records.items():
        kind, _, rest = name.partition(SEPARATOR)
        if kind == "c":
            scope, _, window = rest.rpartition(SEPARATOR)
            with contextlib.suppress(ValueError):
                counts[(scope, window)] = {int(b): int(n) for b, n in fields.items()}
        elif kind == "l":
            with contextlib.suppress(ValueError, TypeError):
                learned[rest] = dict(json.loads(fields.get("changes", "")))
    return counts, learned


def parse_reserve_answer(answer: Sequence[Any]) -> tuple[bool, dict[str, dict[int, int]]]:
    """(whether it was counted, the scope's counts by window after the call)."""
    fits = int(answer[0]) == 1
    counts: dict[str, dict[int, int]] = {}
    for window, flat in zip(WINDOWS, answer[1:], strict=True):
        pairs = [int(v) for v in flat]
        counts[window] = dict(zip(pairs[::2], pairs[1::2], strict=True))
    return fits, counts


def push_learned(shared: SharedState, learned: Mapping[str, str]) -> bool:
    """Write learned limits (JSON by scope); True when there was nothing to write."""
    return not learned or shared.merge(SPACE, LEARN_SCRIPT, learn_items(learned))


def push_counts(
    shared: SharedState,
    counts: Mapping[tuple[str, str], Mapping[int, int]],
    minute_windows: Iterable[str],
) -> bool:
    """Add counts by (scope, window); True when there was nothing to add."""
    items = add_items(counts, time.time(), minute_windows)
    return not items or shared.merge(SPACE, ADD_SCRIPT, items)


def reserve_on(
    shared: SharedState, scope: str, limits: Any, tokens: int, now: float, today: int
) -> tuple[bool, dict[str, dict[int, int]]] | None:
    """Check every window and count one request in one step on the server: (whether it
    was counted, the scope's counts by window after it); None when it cannot be asked."""
    names = [counts_name(scope, window) for window in WINDOWS]
    answer = shared.call(SPACE, RESERVE_SCRIPT, names, reserve_args(limits, tokens, now, today))
    return parse_reserve_answer(answer) if isinstance(answer, list) else None


def snapshot(
    shared: SharedState, known_version: int | None
) -> tuple[int, dict[tuple[str, str], dict[int, int]], dict[str, dict[str, Any]]] | None:
    """(version, counts, learned limits) when the space changed since `known_version`."""
    version = shared.version(SPACE)
    if version is None or version == known_version:
        return None
    records = shared.records(SPACE)
    if records is None:
        return None
    return (version, *parse_snapshot(records))
