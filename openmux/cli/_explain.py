"""Human-readable routing explanations for `-v` and the REPL's /explain."""

from __future__ import annotations

from typing import Any

from openmux.routing import RouteRequest


def explain_plan(request: RouteRequest) -> list[str]:
    lines = []
    c = request.classification
    if c is not None:
        secondary = f", also {', '.join(map(str, c.secondary))}" if c.secondary else ""
        lines.append(f"task: {c.task} (confidence {c.confidence:.2f}{secondary}): {c.reason}")
    if request.offline:
        lines.append("offline: only local models take part")
    if request.candidates:
        lines.append("candidates:")
        lines.extend(
            f"  {i}. {cand.provider.name}:{cand.model.id}: {cand.reason}"
            for i, cand in enumerate(request.candidates, 1)
        )
    else:
        lines.append("candidates: none")
    for hint in dict.fromkeys(request.hints):
        lines.append(f"  not available: {hint}")
    return lines


def explain_result(meta: dict[str, Any]) -> list[str]:
    lines = [
        f"answered by {meta['provider']}:{meta['model']} in {meta['latency_ms']:.0f} ms:"
        f" {meta['reason']}"
    ]
    for attempt in meta["attempts"]:
        error = f" ({attempt['error']})" if attempt.get("error") else ""
        lines.append(
            f"  attempt {attempt['provider']}:{attempt['model']}: {attempt['status']}"
            f" in {attempt['latency_ms']:.0f} ms{error}"
        )
    return lines
