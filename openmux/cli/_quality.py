"""`openmux bench`: grade the reachable models on a small bundled set; `openmux vote`: grade
the last answer. Both feed selection through `openmux.quality`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from openmux.cli import _unwritable, plot_saved
from openmux.errors import OpenMuxError

if TYPE_CHECKING:
    from openmux.chat_models import ChatOpenMux
    from openmux.quality import BenchRow

# Room for a short answer, or for one function with its imports.
_MAX_TOKENS = {"chat": 256, "code": 1024}


def add_quality_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = commands.add_parser(
        "bench",
        help="grade the models you can reach on a small bundled set; selection uses the scores",
        description="Ask each reachable model a small bundled evaluation set (chat: questions "
        "with checkable answers; code: functions run against unit tests in a sandboxed "
        "subprocess) and record accuracy, median latency and failures, dated. Selection "
        "then ranks these models by their local score before the catalog's.",
    )
    bench.add_argument("--task", choices=("chat", "code"), default="chat", help="default chat")
    bench.add_argument(
        "--models",
        nargs="+",
        metavar="M",
        help='only these models: "ID" or "PROVIDER:ID" (default: every reachable one)',
    )
    bench.add_argument("--limit", type=int, metavar="N", help="only the first N questions")
    bench.add_argument("--json", action="store_true", help="print a list of per-model rows")
    bench.add_argument("--plot", metavar="FILE", help="also draw the accuracies (an .svg file)")

    vote = commands.add_parser(
        "vote",
        help="grade the last answer (or RUN_ID's): shifts that model's score for the task",
        description="Vote an answer up or down. Votes shift the model's score for the task "
        "within bounds; `openmux chat --json` prints the run id.",
    )
    vote.add_argument("direction", choices=("up", "down"))
    vote.add_argument("run_id", nargs="?", metavar="RUN_ID", help="default: the latest answer")


def run_bench(args: argparse.Namespace) -> int:
    from openmux.chat_models import ChatOpenMux
    from openmux.quality import quality_store, rows_as_json, write_plot
    from openmux.quality import run_bench as bench

    if args.limit is not None and args.limit < 1:
        print("openmux bench: --limit must be 1 or more", file=sys.stderr)
        return 2
    if args.plot and Path(args.plot).suffix.lower() != ".svg":
        print(
            f"openmux bench: --plot writes SVG: name the file *.svg (got {args.plot})",
            file=sys.stderr,
        )
        return 2
    if args.plot and (problem := _unwritable("--plot", args.plot)):
        print(f"openmux bench: {problem}", file=sys.stderr)
        return 2
    try:
        llm = ChatOpenMux(temperature=0, max_tokens=_MAX_TOKENS[args.task])
        targets, missing = _targets(llm, args.task, args.models)
    except OpenMuxError as exc:
        print(f"openmux bench: {exc}", file=sys.stderr)
        return 1
    for name in missing:
        print(f"openmux bench: no reachable provider serves {name!r}; skipped", file=sys.stderr)
    if not targets:
        print(
            "openmux bench: no model to grade (set a provider key, start a local server, "
            'or pip install "openmux[local]")',
            file=sys.stderr,
        )
        return 1

    def ask(provider: str, model: str, prompt: str) -> str:
        # Never from the response cache: a replay would grade an old answer and time the cache.
        message = llm.invoke(prompt, model=f"{provider}:{model}", task=args.task, cache=False)
        meta = message.response_metadata["openmux"]
        if (meta["provider"], meta["model"]) != (provider, model):
            raise OpenMuxError(f"answered by {meta['provider']}:{meta['model']} instead")
        return message.text

    def progress(provider: str, model: str, item: object, ok: bool, detail: str) -> None:
        if not args.json:
            print("." if ok else "x", end="", file=sys.stderr, flush=True)

    rows = bench(
        args.task,
        targets,
        ask,
        limit=args.limit,
        failure_types=(OpenMuxError,),
        progress=progress,
    )
    if not args.json:
        print(file=sys.stderr)
    quality_store(llm.settings.state_dir).add_bench(rows)
    if args.json:
        print(json.dumps(rows_as_json(rows), indent=2))
    else:
        _print_rows(rows)
    if args.plot and not plot_saved(
        args.plot,
        lambda path: write_plot(path, rows, f"openmux bench: {args.task}, {rows[0].date}"),
        "openmux bench",
    ):
        return 1
    return 0


def _targets(
    llm: ChatOpenMux, task: str, names: list[str] | None
) -> tuple[list[tuple[str, str]], list[str]]:
    """The (provider, model) pairs to grade, and the asked-for names nobody serves."""
    from langchain_core.messages import HumanMessage

    from openmux.routing import RouteRequest
    from openmux.routing import plan as route

    def plan(model: str | None) -> list[tuple[str, str]]:
        request = RouteRequest(messages=[HumanMessage("bench")], task=task, model=model)
        return [c.key for c in route(llm.router, request).candidates]

    if not names:
        return list(dict.fromkeys(plan(None))), []
    targets: list[tuple[str, str]] = []
    missing = []
    for name in (n.strip() for group in names for n in group.split(",")):
        found = plan(name) if name else []
        if found:
            targets.append(found[0])
        elif name:
            missing.append(name)
    return list(dict.fromkeys(targets)), missing


def _print_rows(rows: list[BenchRow]) -> None:
    from rich.console import Console
    from rich.table import Table

    from openmux.cli._keys import safe

    table = Table(
        title=safe(f"openmux bench: {rows[0].task} ({rows[0].set_version}), {rows[0].date}"),
        title_justify="left",
    )
    for name, justify in (
        ("provider:model", "left"),
        ("accuracy", "right"),
        ("correct", "right"),
        ("failures", "right"),
        ("median latency", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in sorted(rows, key=lambda r: (-r.accuracy, r.latency_ms or 0.0)):
        table.add_row(
            safe(f"{row.provider}:{row.model}"),
            f"{row.accuracy:.0%}",
            f"{row.correct}/{row.questions}",
            str(row.failures),
            f"{row.latency_ms / 1000:.2f} s" if row.latency_ms is not None else "-",
        )
    Console().print(table)
    print("Saved: selection now ranks these models by this score before the catalog's.")


def run_vote(args: argparse.Namespace) -> int:
    from openmux.config import load_settings
    from openmux.quality import MAX_VOTE_SHIFT, UnknownRun, vote

    try:
        settings = load_settings()
        answer, quality = vote(args.run_id, args.direction == "up", settings.state_dir)
    except UnknownRun as exc:
        print(f"openmux vote: {exc.args[0]}", file=sys.stderr)
        return 1
    except OpenMuxError as exc:
        print(f"openmux vote: {exc}", file=sys.stderr)
        return 1
    print(
        f"Voted {args.direction} {answer.provider}:{answer.model} for {answer.task}: "
        f"{quality.up} up / {quality.down} down, score shift {quality.vote_shift:+.2f} "
        f"(bounded to +-{MAX_VOTE_SHIFT:.2f})"
    )
    return 0
