"""`openmux bench --plot FILE`: accuracy per model as a bar chart, written as SVG by hand
(no plotting library to install)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from openmux.quality._store import BenchRow

_BAR_HEIGHT = 22
_GAP = 10
_LABEL_WIDTH = 300
_BAR_WIDTH = 360
_TOP = 48


def bench_svg(rows: list[BenchRow], title: str) -> str:
    height = _TOP + len(rows) * (_BAR_HEIGHT + _GAP) + 24
    width = _LABEL_WIDTH + _BAR_WIDTH + 190
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="13">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="12" y="24" font-size="16" font-weight="bold">{escape(title)}</text>',
    ]
    for index, row in enumerate(rows):
        y = _TOP + index * (_BAR_HEIGHT + _GAP)
        length = round(row.accuracy * _BAR_WIDTH)
        latency = f"{row.latency_ms / 1000:.2f} s" if row.latency_ms is not None else "-"
        failed = f", {row.failures} failed" if row.failures else ""
        parts += [
            f'<text x="{_LABEL_WIDTH - 8}" y="{y + 16}" text-anchor="end">'
            f"{escape(row.provider)}:{escape(row.model)}</text>",
            f'<rect x="{_LABEL_WIDTH}" y="{y}" width="{_BAR_WIDTH}" height="{_BAR_HEIGHT}" '
            'fill="#eeeeee"/>',
            f'<rect x="{_LABEL_WIDTH}" y="{y}" width="{length}" height="{_BAR_HEIGHT}" '
            'fill="#3b7dd8"/>',
            f'<text x="{_LABEL_WIDTH + _BAR_WIDTH + 8}" y="{y + 16}">'
            f"{row.accuracy:.0%} ({row.correct}/{row.questions}), {latency}{failed}</text>",
        ]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_plot(path: Path, rows: list[BenchRow], title: str) -> None:
    if path.suffix.lower() != ".svg":
        raise ValueError(f"--plot writes SVG: name the file *.svg (got {path.name})")
    path.write_text(bench_svg(rows, title), encoding="utf-8")
