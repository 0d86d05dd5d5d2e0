"""Health shared across hosts: the same merge as SQLite's, as a Lua script on the server.

A process sends what it changed (counts to add, a bench end to raise to), never its copy
of a row, so hosts with stale views can neither erase each other's benches nor lose
counts. Records are `provider \\x1f model`; they expire ROW_TTL_SECONDS after their last
change, or when their bench ends if that is later.
"""

from __future__ import annotations

from collections.abc import Mapping

from openmux.health._merge import Change, Row

SPACE = "health"
SEPARATOR = "\x1f"

MERGE_SCRIPT = """
local row = KEYS[1]
local reset, streak, benches = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local ends, ended, now, ttl = tonumber(ARGV[6]), tonumber(ARGV[8]), ARGV[10], tonumber(ARGV[11])
local old = redis.call('HMGET', row, 'benched_until', 'reason', 'consecutive_failures', 'benches')
local until_, reason = tonumber(old[1]) or 0, old[2] or ''
if until_ <= ended then until_, reason = 0, '' end
if ends > until_ then until_, reason = ends, ARGV[7] end
local failures_in_a_row, bench_count = tonumber(old[3]) or 0, tonumber(old[4]) or 0
if reset == 1 then
  failures_in_a_row, bench_count = streak, benches
else
  failures_in_a_row, bench_count = failures_in_a_row + streak, bench_count + benches
end
redis.call('HSET', row, 'benched_until', string.format('%.3f', until_), 'reason', reason,
  'consecutive_failures', failures_in_a_row, 'benches', bench_count, 'updated', now)
redis.call('HINCRBY', row, 'successes', ARGV[1])
redis.call('HINCRBY', row, 'failures', ARGV[2])
if ARGV[9] ~= '' then redis.call('HSET', row, 'p95_first_token_ms', ARGV[9]) end
local keep = math.max(ttl, until_ - tonumber(now))
redis.call('EXPIRE', row, math.ceil(keep))
return 1
"""


def record_name(provider: str, model: str) -> str:
    return f"{provider}{SEPARATOR}{model}"


def merge_args(change: Change, now: float, ttl: float) -> list[object]:
    """ARGV of MERGE_SCRIPT for one change."""
    return [
        change.successes,
        change.failures,
        int(change.reset),
        change.streak,
        change.benches,
        f"{change.until:.3f}",
        change.reason,
        f"{change.ended:.3f}",
        "" if change.p95 is None else f"{change.p95:.3f}",
        f"{now:.3f}",
        int(ttl),
    ]


def parse_record(name: str, fields: Mapping[str, str]) -> tuple[tuple[str, str], Row] | None:
    """One shared record, or None when it is damaged or foreign."""
    provider, separator, model = name.partition(SEPARATOR)
    if not separator:
        return None
    try:
        p95 = fields.get("p95_first_token_ms")
        row = Row(
            benched_until=float(fields.get("benched_until", 0)),
            reason=fields.get("reason", ""),
            consecutive_failures=int(fields.get("consecutive_failures", 0)),
            benches=int(fields.get("benches", 0)),
            successes=int(fields.get("successes", 0)),
            failures=int(fields.get("failures", 0)),
            p95_first_token_ms=float(p95) if p95 else None,
        )
    except (TypeError, ValueError):
        return None
    return (provider, model), row
