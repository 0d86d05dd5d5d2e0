"""`openmux chat --profile`: where one request's time went, stage by stage.

The router records the stages itself when asked (`profile=True`, metadata `timings`):
classify and select as long as they took; connect from sending the request to the
provider's response headers (OpenAI-protocol providers); first token (streamed answers)
and total from the request's start.
"""

from __future__ import annotations

from collections.abc import Mapping

STAGES = ("classify", "select", "connect", "first_token", "total")


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
