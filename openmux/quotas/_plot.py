"""The `openmux stats` chart as SVG: drawn by hand, so no plotting library is needed.

`openmux stats --plot` writes it and the playground's Usage tab shows it.
"""

from __future__ import annotations

from html import escape
from typing import Any


def format_count(value: float) -> str:
    """A request or token count, short: 9,999 or 12.3k."""
    return f"{value / 1000:.1f}k" if value >= 10_000 else f"{value:,.0f}"


def today_text(row: dict[str, Any]) -> str:
    """A usage row's requests today against its free limits: `3/50 today, 20/min`."""
    limits = row["limits"]
    day = next((limits[n] for n in ("rpd",) if n in limits), None)
    shown = f"{row['today']}/{day} today" if day is not None else f"{row['today']} today"
    if "rpm" in limits:
        shown += f", {limits['rpm']}/min"
    return shown + (" (shared)" if row["limits_shared"] and limits else "")


def usage_svg(data: dict[str, Any], title: str) -> str:
    """Horizontal bars per model: answered, failed and skipped for quota; figures beside."""
    models = data["models"]
    label, bar, row_height, top = 300, 320, 30, 64
    width, height = label + bar + 470, top + max(1, len(models)) * row_height + 40
    most = max([max(m["requests"], m["over_quota"]) for m in models] + [1])
    cost = data["would_have_cost_usd"]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="13">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="12" y="24" font-size="16" font-weight="bold">{escape(title)}</text>',
        f'<text x="12" y="46">{data["requests"]} requests, {data["ok"]} answered; spent '
        f"${data['spent_usd']:.2f}, ${cost:.4f} at paid list prices</text>",
    ]
    for index, row in enumerate(models):
        y = top + index * row_height
        scale = bar / most
        ok = row["ok"] * scale
        failed = (row["requests"] - row["ok"]) * scale
        skipped = row["over_quota"] * scale
        p50 = "-" if row["p50_ms"] is None else f"{row['p50_ms']:.0f} ms"
        parts += [
            f'<text x="{label - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape(row['provider'])}:{escape(row['model'])}</text>",
            f'<rect x="{label}" y="{y}" width="{bar}" height="20" fill="#f0f0f0"/>',
            f'<rect x="{label}" y="{y}" width="{ok:.1f}" height="20" fill="#3b7dd8"/>',
            f'<rect x="{label + ok:.1f}" y="{y}" width="{failed:.1f}" height="20" fill="#d8513b"/>',
            f'<rect x="{label}" y="{y + 20}" width="{skipped:.1f}" height="4" fill="#999999"/>',
            f'<text x="{label + bar + 8}" y="{y + 15}">{row["requests"]} sent, '
            f"p50 {p50}, {format_count(row['tokens_in'] + row['tokens_out'])} tokens, "
            f"{escape(today_text(row))}</text>",
        ]
    legend_y = top + max(1, len(models)) * row_height + 20
    parts += [
        f'<rect x="{label}" y="{legend_y - 11}" width="12" height="12" fill="#3b7dd8"/>',
        f'<text x="{label + 18}" y="{legend_y}">answered</text>',
        f'<rect x="{label + 100}" y="{legend_y - 11}" width="12" height="12" fill="#d8513b"/>',
        f'<text x="{label + 118}" y="{legend_y}">failed</text>',
        f'<rect x="{label + 180}" y="{legend_y - 6}" width="12" height="4" fill="#999999"/>',
        f'<text x="{label + 198}" y="{legend_y}">skipped: over quota (no request)</text>',
        "</svg>",
    ]
    return "\n".join(parts) + "\n"
