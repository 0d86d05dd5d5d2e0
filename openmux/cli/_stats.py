"""`openmux stats [--since 7d] [--json] [--plot FILE.html|FILE.svg]`: what was sent where."""

from __future__ import annotations

import argparse
import json
import sys
from html import escape
from pathlib import Path
from typing import Any

_BAR = 28
_PLOT_FORMATS = (".html", ".svg")


def add_stats_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stats = commands.add_parser(
        "stats",
        help="requests, failures, tokens and free limits per model",
        description="Per provider and model: requests (today against each free limit), "
        "success rate, p50/p95 latency, tokens, top failure kinds, and what the same tokens "
        "would have cost at paid list prices.",
    )
    stats.add_argument("--since", default="7d", help="a span (7d, 24h, 30m) or a date (default 7d)")
    stats.add_argument("--json", action="store_true", help="print the data as JSON")
    stats.add_argument("--plot", metavar="FILE", help="also write a chart: FILE.html or FILE.svg")


def run_stats(args: argparse.Namespace) -> int:
    from openmux.quotas import usage

    if args.plot and Path(args.plot).suffix.lower() not in _PLOT_FORMATS:
        print(
            f"openmux: --plot writes HTML or SVG (no plotting library needed); "
            f"name the file *.html or *.svg, not {Path(args.plot).name}",
            file=sys.stderr,
        )
        return 2
    try:
        data = usage(args.since)
    except ValueError as exc:
        print(f"openmux: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(render_text(data, args.since))
    if args.plot:
        write_plot(Path(args.plot), data, f"OpenMux usage since {data['since']}")
        if not args.json:
            print(f"chart written to {args.plot}")
    return 0


def _count(value: float) -> str:
    return f"{value / 1000:.1f}k" if value >= 10_000 else f"{value:,.0f}"


def _today(row: dict[str, Any]) -> str:
    limits = row["limits"]
    day = next((limits[n] for n in ("rpd",) if n in limits), None)
    shown = f"{row['today']}/{day} today" if day is not None else f"{row['today']} today"
    if "rpm" in limits:
        shown += f", {limits['rpm']}/min"
    return shown + (" (shared)" if row["limits_shared"] and limits else "")


def render_text(data: dict[str, Any], since: str) -> str:
    models = data["models"]
    if not models:
        return f"No requests recorded since {data['since']} ({since})."
    rate = f"{data['ok'] / data['requests']:.0%} ok" if data["requests"] else "none sent"
    lines = [
        f"OpenMux usage since {data['since']} ({since}): {data['requests']} requests, {rate}, "
        f"{_count(data['tokens_in'])} tokens in / {_count(data['tokens_out'])} out",
        f"spent ${data['spent_usd']:.2f}; the same tokens at paid list prices: "
        f"${data['would_have_cost_usd']:.4f}",
        "",
    ]
    width = max(len(f"{m['provider']}:{m['model']}") for m in models)
    most = max(max(m["requests"], m["over_quota"]) for m in models) or 1
    for row in models:
        ok = round(row["ok"] / most * _BAR)
        failed = round((row["requests"] - row["ok"]) / most * _BAR)
        bar = ("█" * ok + "▒" * failed).ljust(_BAR)
        p50 = "-" if row["p50_ms"] is None else f"{row['p50_ms']:.0f}"
        p95 = "-" if row["p95_ms"] is None else f"{row['p95_ms']:.0f}"
        rate = "-" if row["success_rate"] is None else f"{row['success_rate']:.0%}"
        notes = [f"{kind} {n}" for kind, n in row["failures"].items()]
        if row["over_quota"]:
            notes.append(f"skipped over quota {row['over_quota']}")
        lines.append(
            f"{row['provider'] + ':' + row['model']:<{width}}  {bar} {row['requests']:>5}  "
            f"{rate:>4} ok  p50/p95 {p50}/{p95} ms  "
            f"{_count(row['tokens_in'] + row['tokens_out'])} tokens  {_today(row)}"
            + (f"  [{', '.join(notes)}]" if notes else "")
        )
    lines += ["", "█ answered  ▒ failed; limits are free-tier limits (table, learned or config)"]
    return "\n".join(lines)


def stats_svg(data: dict[str, Any], title: str) -> str:
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
            f"p50 {p50}, {_count(row['tokens_in'] + row['tokens_out'])} tokens, "
            f"{escape(_today(row))}</text>",
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


def write_plot(path: Path, data: dict[str, Any], title: str) -> None:
    svg = stats_svg(data, title)
    if path.suffix.lower() == ".svg":
        path.write_text(svg, encoding="utf-8")
        return
    page = (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"</head><body>\n{svg}<pre>{escape(json.dumps(data, indent=2))}</pre>\n</body></html>\n"
    )
    path.write_text(page, encoding="utf-8")
