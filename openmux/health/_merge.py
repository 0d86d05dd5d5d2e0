"""How one process's health changes merge into the shared table: add counts, raise ends.

A process never writes its copy of a row: it writes what it changed since its
last flush, and SQLite applies that to whatever the row holds by then.
"""

from __future__ import annotations

from dataclasses import dataclass

MERGE = """
UPDATE health SET
    successes = successes + :successes,
    failures = failures + :failures,
    consecutive_failures =
        CASE WHEN :reset THEN :streak ELSE consecutive_failures + :streak END,
    benches = CASE WHEN :reset THEN :benches ELSE benches + :benches END,
    reason = CASE
        WHEN :until > (CASE WHEN benched_until <= :ended THEN 0 ELSE benched_until END)
            THEN :reason
        WHEN benched_until <= :ended THEN ''
        ELSE reason END,
    benched_until = MAX(CASE WHEN benched_until <= :ended THEN 0 ELSE benched_until END, :until),
    p95_first_token_ms = COALESCE(:p95, p95_first_token_ms),
    updated = :now
WHERE provider = :provider AND model = :model
"""


@dataclass
class Row:
    benched_until: float = 0.0
    reason: str = ""
    consecutive_failures: int = 0
    benches: int = 0
    successes: int = 0
    failures: int = 0
    p95_first_token_ms: float | None = None


@dataclass
class Change:
    """What this process did to one row since its last flush, in the shape of `_MERGE`."""

    successes: int = 0
    failures: int = 0
    reset: bool = False
    """A success ended the failure streak (and the bench count) before `streak` more failures."""
    streak: int = 0
    benches: int = 0
    until: float = 0.0
    reason: str = ""
    ended: float = 0.0
    """A success closes benches that ended by this time."""
    p95: float | None = None

    def apply(self, row: Row) -> Row:
        """The row as the merge will leave it (for this process's view until the next read)."""
        benched_until, reason = row.benched_until, row.reason
        if benched_until <= self.ended:
            benched_until, reason = 0.0, ""
        if self.until > benched_until:
            benched_until, reason = self.until, self.reason
        return Row(
            benched_until=benched_until,
            reason=reason,
            consecutive_failures=self.streak + (0 if self.reset else row.consecutive_failures),
            benches=self.benches + (0 if self.reset else row.benches),
            successes=row.successes + self.successes,
            failures=row.failures + self.failures,
            p95_first_token_ms=self.p95 if self.p95 is not None else row.p95_first_token_ms,
        )


def parse_row(raw: tuple[object, ...]) -> tuple[tuple[str, str], Row] | None:
    """One stored row, or None when a value has the wrong type (a damaged or foreign row)."""
    try:
        provider, model = raw[0], raw[1]
        if not isinstance(provider, str) or not isinstance(model, str):
            return None
        p95 = raw[8]
        row = Row(
            benched_until=float(raw[2]),  # type: ignore[arg-type]
            reason=str(raw[3]),
            consecutive_failures=int(raw[4]),  # type: ignore[call-overload]
            benches=int(raw[5]),  # type: ignore[call-overload]
            successes=int(raw[6]),  # type: ignore[call-overload]
            failures=int(raw[7]),  # type: ignore[call-overload]
            p95_first_token_ms=None if p95 is None else float(p95),  # type: ignore[arg-type]
        )
    except (TypeError, ValueError, IndexError):
        return None
    return (provider, model), row


def combine(first: Change, then: Change) -> Change:
    """One change equal to `first` followed by `then` (what `_MERGE` applies in one go)."""
    until, reason = first.until, first.reason
    if until <= then.ended:
        until, reason = 0.0, ""
    if then.until > until:
        until, reason = then.until, then.reason
    return Change(
        successes=first.successes + then.successes,
        failures=first.failures + then.failures,
        reset=first.reset or then.reset,
        streak=then.streak + (0 if then.reset else first.streak),
        benches=then.benches + (0 if then.reset else first.benches),
        until=until,
        reason=reason,
        ended=max(first.ended, then.ended),
        p95=then.p95 if then.p95 is not None else first.p95,
    )
