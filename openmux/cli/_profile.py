"""`openmux chat --profile`: where one request's time went, stage by stage.

The stages are read from the LangChain runs the router makes when someone observes it
(a tracer that keeps the runs in memory): the `classify` node, the `select` node up to the
first provider call, and the answer's first streamed token. Observing turns on run
bookkeeping, which costs a little time of its own. A streamed answer shows no router
runs (BaseChatModel.stream gives `_stream` no run manager), so there only the first
token and the total are measured; connect needs the provider call's own timing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run

STAGES = ("classify", "select", "connect", "first_token", "total")


class StageTimer(BaseTracer):
    """Keeps the finished runs of one request to time its stages."""

    def __init__(self) -> None:
        super().__init__()
        self.finished: list[Run] = []

    def _persist_run(self, run: Run) -> None:
        """Nothing to persist: the runs stay in memory."""

    def _end_trace(self, run: Run) -> None:
        self.finished.append(run)
        super()._end_trace(run)

    def stages(self, meta: Mapping[str, Any]) -> dict[str, float | None]:
        """Milliseconds per stage; None where this request had no such stage or it is not
        measured (connect: the provider call's own timing is not visible from runs)."""
        root = next((r for r in self.finished if r.parent_run_id is None), None)
        if root is None or root.end_time is None:
            return dict.fromkeys(STAGES)
        start = root.start_time
        by_name: dict[str, Run] = {}
        for run in sorted(self.finished, key=lambda r: r.start_time):
            by_name.setdefault(run.name, run)
        classify = by_name.get("classify")
        select = by_name.get("select")
        tried = {f"{a['provider']}:{a['model']}" for a in meta.get("attempts", ())}
        calls = [r for r in self.finished if r.name in tried and _below(r, select, self)]
        first_call = min((r.start_time for r in calls), default=None)
        token_times = [
            e["time"]
            for e in root.events
            if e.get("name") == "new_token" and (e.get("kwargs") or {}).get("token")
        ]
        return {
            "classify": _ms(classify.start_time, classify.end_time) if classify else None,
            "select": _ms(select.start_time, first_call) if select and first_call else None,
            "connect": None,
            "first_token": _ms(start, _as_datetime(token_times[0])) if token_times else None,
            "total": _ms(start, root.end_time),
        }


def _below(run: Run, ancestor: Run | None, timer: StageTimer) -> bool:
    if ancestor is None:
        return False
    parents: dict[UUID, UUID | None] = {r.id: r.parent_run_id for r in timer.finished}
    parent = run.parent_run_id
    while parent is not None:
        if parent == ancestor.id:
            return True
        parent = parents.get(parent)
    return False


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _ms(start: datetime, end: datetime | None) -> float | None:
    return round((end - start).total_seconds() * 1000, 1) if end is not None else None


def profile_lines(stages: Mapping[str, float | None]) -> list[str]:
    lines = [
        "profile: classify and select as long as they took; first token and total",
        "counted from the request's start",
    ]
    for stage in STAGES:
        value = stages.get(stage)
        shown = f"{value:9.1f} ms" if value is not None else "        -"
        lines.append(f"  {stage.replace('_', ' '):<12}{shown}")
    if any(stages.get(stage) is None for stage in STAGES):
        lines.append("  (-: not measured on this path)")
    return lines
