"""The process's load watch: a late timer marks saturation; hedges have a budget."""

from __future__ import annotations

from openmux.routing._load import HEDGE_BURST, LATE_WAKE_LIMIT, LoadWatch


def test_a_late_timer_marks_the_process_saturated_and_stops_hedges() -> None:
    watch = LoadWatch()
    watch.note_wake(LATE_WAKE_LIMIT / 2)
    assert not watch.saturated()
    watch.note_wake(LATE_WAKE_LIMIT * 5)
    assert watch.saturated()
    assert watch.take_hedge() is False


def test_hedges_are_bounded_by_the_budget() -> None:
    watch = LoadWatch()
    granted = sum(watch.take_hedge() for _ in range(100))
    # The burst, plus what the (short) time spent in this loop refilled: far from all.
    assert HEDGE_BURST <= granted < 50
    for _ in range(20):
        watch.note_call()  # twenty calls earn two hedges
    assert sum(watch.take_hedge() for _ in range(10)) >= 2
