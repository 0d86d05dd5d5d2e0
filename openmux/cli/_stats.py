"""`openmux stats [--since 7d] [--json] [--plot FILE.html|FILE.svg]`: what was sent where."""

from __future__ import annotations

import argparse
import json
import sys
from html import escape
from pathlib import Path
from typing import Any

from openmux.cli import _unwritable, plot_saved

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
    from openmux.state import state_backend

    if args.plot and Path(args.plot).suffix.lower() not in _PLOT_FORMATS:
        print(
            f"openmux: --plot writes HTML or SVG (no plotting library needed); "
            f"name the file *.html or *.svg, not {Path(args.plot).name}",
            file=sys.stderr,
        )
        return 2
    if args.plot and (problem := _unwritable("--plot", args.plot)):
        print(f"openmux: {problem}", file=sys.stderr)
        return 2
    from openmux.config import load_settings

    # The state's place comes from the settings: with a broken config file it would
    # silently be the default place, not the one the file (or OPENMUX_STATE_DIR) names.
    load_settings()
    try:
        data = usage(args.since)
    except ValueError as exc:
        print(f"openmux: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(render_text(data, args.since))
        print(f"(from {state_backend().describe()})")
    if args.plot:
        title = f"OpenMux usage since {data['since']}"
        if not plot_saved(args.plot, lambda path: write_plot(path, data, title), "openmux"):
            return 1
        if not args.json:
            print(f"chart written to {args.plot}")
    return 0


def render_text(data: dict[str, Any], since: str) -> str:
    from openmux.quotas import format_count, today_text

    models = data["models"]
    if not models:
        return f"No requests recorded since {data['since']} ({since})."
    rate = f"{data['ok'] / data['requests']:.0%} ok" if data["requests"] else "none sent"
    cached = f", {data['cached']} more answered from the cache" if data["cached"] else ""
    lines = [
        f"OpenMux usage since {data['since']} ({since}): {data['requests']} requests, {rate}"
        f"{cached}, {format_count(data['tokens_in'])} tokens in / "
        f"{format_count(data['tokens_out'])} out",
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
        if row["cached"]:
            notes.append(f"replayed from the cache {row['cached']}")
        lines.append(
            f"{row['provider'] + ':' + row['model']:<{width}}  {bar} {row['requests']:>5}  "
            f"{rate:>4} ok  p50/p95 {p50}/{p95} ms  "
            f"{format_count(row['tokens_in'] + row['tokens_out'])} tokens  {today_text(row)}"
            + (f"  [{', '.join(notes)}]" if notes else "")
        )
    lines += ["", "█ answered  ▒ failed; limits are free-tier limits (table, learned or config)"]
    return "\n".join(lines)


def write_plot(path: Path, data: dict[str, Any], title: str) -> None:
    from openmux.quotas import usage_svg

    svg = usage_svg(data, title)
    if path.suffix.lower() == ".svg":
        path.write_text(svg, encoding="utf-8")
        return
    page = (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"</head><body>\n{svg}<pre>{escape(json.dumps(data, indent=2))}</pre>\n</body></html>\n"
    )
    path.write_text(page, encoding="utf-8")
