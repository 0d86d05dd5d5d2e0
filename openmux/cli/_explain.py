"""Human-readable routing explanations for `-v` and the REPL's /explain, made from an
answer's `response_metadata["openmux"]`: the plan that actually ran."""

from __future__ import annotations

from typing import Any


def explain_result(meta: dict[str, Any]) -> list[str]:
    lines = []
    if meta.get("task") is not None:
        lines.append(f"task: {meta['task']} (confidence {meta['confidence']:.2f})")
    if meta.get("offline"):
        lines.append("offline: only local models take part")
    lines.append(
        f"answered by {meta['provider']}:{meta['model']} in {meta['latency_ms']:.0f} ms:"
        f" {meta['reason']}"
    )
    for attempt in meta["attempts"]:
        error = f" ({attempt['error']})" if attempt.get("error") else ""
        lines.append(
            f"  attempt {attempt['provider']}:{attempt['model']}: {attempt['status']}"
            f" in {attempt['latency_ms']:.0f} ms{error}"
        )
    return lines
