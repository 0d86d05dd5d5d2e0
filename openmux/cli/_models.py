"""`openmux models`: the catalog ranked for a task; `openmux models refresh`: fetch listings now."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from openmux.errors import OpenMuxError

if TYPE_CHECKING:
    from openmux.catalog import Catalog
    from openmux.config import Settings
    from openmux.routing import Candidate

TASKS = ("chat", "code", "image", "tts", "audio", "embeddings", "other")


def add_models_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = commands.add_parser(
        "models",
        help="the model catalog ranked for a task (or `models refresh`)",
        description="List models as selection ranks them for a task, with capabilities, "
        "context, price, quality score and its source, latency and availability. "
        "`openmux models refresh` fetches the providers' listings now.",
    )
    models.add_argument("action", nargs="?", choices=("refresh",), help="refresh the catalog")
    models.add_argument("--task", default="chat", choices=TASKS, help="rank for this task")
    models.add_argument("--provider", action="append", help="only this provider (repeatable)")
    price = models.add_mutually_exclusive_group()
    price.add_argument("--free", dest="free", action="store_true", default=None, help="free only")
    price.add_argument("--all", dest="free", action="store_false", help="include paid models")
    models.add_argument(
        "--local",
        action="store_true",
        help="only models on this machine: the bundled one, pulled ones, local servers",
    )
    models.add_argument("--explain", action="store_true", help="print each model's reason")
    models.add_argument("--json", action="store_true", help="print JSON")


def run_models(args: argparse.Namespace) -> int:
    from openmux.catalog import catalog_for
    from openmux.config import load_settings

    try:
        settings = load_settings()
    except OpenMuxError as exc:
        print(f"openmux: {exc}", file=sys.stderr)
        return 1
    catalog = catalog_for(settings.state_dir)
    unknown = [p for p in args.provider or () if p not in settings.providers]
    if unknown:
        print(
            f"openmux: unknown provider(s) {', '.join(unknown)}; "
            f"known: {', '.join(settings.providers)}",
            file=sys.stderr,
        )
        return 2
    if args.action == "refresh":
        return _refresh(args, settings, catalog)
    providers = args.provider
    if args.local:
        providers = [p.name for p in settings.provider_order() if p.local and p.enabled]
    rows = model_rows(settings, catalog, args.task, providers, args.free)
    unserved = _unserved(args.task, rows)
    if args.json:
        print(json.dumps(rows, indent=2))
        if unserved:
            print(unserved, file=sys.stderr)
    elif unserved:
        print(unserved)
    else:
        # A pipe or a file gets no table: rich would wrap model ids at 80 columns.
        if sys.stdout.isatty():
            _print_table(rows, args, settings, catalog)
        else:
            _print_rows(rows)
        _print_notes(rows, args)
    return 0


def _unserved(task: str, rows: list[dict[str, Any]]) -> str | None:
    """One line for a task that no model of any configured provider serves."""
    from openmux.routing import NON_TEXT_OUTPUT

    if rows or task not in NON_TEXT_OUTPUT:
        return None
    return (
        f"No configured provider serves {task}: {NON_TEXT_OUTPUT[task]} needs a provider "
        "that produces that output."
    )


def model_rows(
    settings: Settings,
    catalog: Catalog,
    task: str,
    providers: list[str] | None = None,
    free: bool | None = None,
) -> list[dict[str, Any]]:
    """Every chat model of the configured providers, ranked for `task` by the one select."""
    from openmux.classifier import TaskClassification, TaskType
    from openmux.routing import Router, RouteRequest, score_task, select

    router = Router(settings, catalog=catalog)
    embeddings = task == "embeddings"
    request = RouteRequest(
        messages=[],
        classification=TaskClassification(TaskType(task), 1.0, [], "asked for"),
        output="embeddings" if embeddings else "text",
    )
    free_only = settings.free_only if free is None else free
    candidates = [
        c
        for c in select(router, request, listing=True)
        if (not providers or c.provider.name in providers) and not (free_only and not c.free)
    ]
    ready = router.local_models()
    health = router.health
    task_key = score_task(task, task == "image")
    from openmux.quality import local_quality

    local_scores = local_quality(task_key, settings.state_dir)
    rows = []
    for number, candidate in enumerate(candidates, start=1):
        facts = candidate.facts
        info = facts.info if facts is not None else None
        score = catalog.score(info, task_key)
        provider, model = candidate.key
        p95 = health.p95_first_token_ms(provider, model)
        rows.append(
            {
                "rank": number,
                "provider": provider,
                "model": model,
                "catalog_model": info.id if info else None,
                "capabilities": facts.capabilities() if facts else ["embeddings"],
                "context_length": facts.context_length if facts else None,
                "free": candidate.free,
                "score": score.as_dict() if score else None,
                "local_score": _as_dict(local_scores.get(candidate.key)),
                "p95_ms": round(p95, 1) if p95 is not None else None,
                "status": _status(
                    candidate, ready, health.bench_of(provider, model), embeddings=embeddings
                ),
                "listing": facts.offer.source if facts and facts.offer else "provider config",
                "reason": candidate.reason,
            }
        )
    return rows


def _as_dict(local: Any) -> dict[str, Any] | None:
    return local.as_dict() if local is not None else None


def _status(
    candidate: Candidate,
    local_models: dict[str, list[str] | None],
    bench: Any,
    *,
    embeddings: bool,
) -> str:
    provider = candidate.provider
    if bench is not None:
        return "benched"
    if provider.protocol == "llamacpp" and provider.usable:  # in process: installed or not
        from openmux.local import local_embeddings_available

        if embeddings:
            installed = local_embeddings_available()
        else:
            installed = candidate.model.id in (local_models.get(provider.name) or ())
        return "ready" if installed or provider.models_configured else "not installed"
    running = not provider.local or provider.models_configured
    if provider.usable and (running or local_models.get(provider.name) is not None):
        return "ready"
    if provider.needs_key and provider.api_key is None:
        return "no key"
    return "not running" if provider.local else "unavailable"


def _print_table(
    rows: list[dict[str, Any]], args: argparse.Namespace, settings: Settings, catalog: Catalog
) -> None:
    from rich.console import Console
    from rich.table import Table

    from openmux.cli._keys import safe

    console = Console()
    policy = "provider order" if settings.strategy == "ordered" else f"policy {settings.policy}"
    metric = next((r["score"]["metric"] for r in rows if r["score"]), "quality")
    table = Table(
        title=f"Models for {safe(args.task)}: {policy}; score = {safe(metric)} "
        f"(~ estimate; --explain for sources); catalog {safe(catalog.snapshot)}; "
        "local = your `openmux bench` accuracy and net votes (ranked before the score)",
        title_justify="left",
    )
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("provider:model", overflow="fold")
    for name in _COLUMNS[2:]:
        left = name in ("can", "price", "status")
        table.add_column(name, justify="left" if left else "right", no_wrap=name != "can")
    for row in rows:
        table.add_row(*map(safe, _cells(row)))
    console.print(table)


_COLUMNS = ("#", "provider:model", "can", "context", "price", "score", "local", "p95", "status")


def _cells(row: dict[str, Any]) -> list[str]:
    """A row as shown, one string per column of `_COLUMNS`."""
    score = row["score"]
    shown = "neutral" if score is None else f"{'~' if score['estimate'] else ''}{score['value']:g}"
    context = row["context_length"]
    can = [c for c in row["capabilities"] if c not in ("chat", "code")]
    return [
        str(row["rank"]),
        f"{row['provider']}:{row['model']}",
        ",".join(can) or "text",
        f"{context // 1000}k" if context else "?",
        "free" if row["free"] else "paid",
        shown,
        _local_shown(row["local_score"]) or "-",
        f"{row['p95_ms'] / 1000:.1f}s" if row["p95_ms"] is not None else "-",
        row["status"],
    ]


def _print_rows(rows: list[dict[str, Any]]) -> None:
    """One line per model, never wrapped: for pipes and files."""
    lines = [list(_COLUMNS), *(_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(_COLUMNS))]
    for line in lines:
        cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        print("  ".join(cells).rstrip())


def _print_notes(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    if args.explain:
        for row in rows:
            print(f"{row['rank']:>3}. {row['provider']}:{row['model']}: {row['reason']}")
    if not rows:
        print("No models match; try --all or another --provider.")


def _local_shown(local: dict[str, Any] | None) -> str:
    """The local bench accuracy and net votes: what ranks before the catalog's score."""
    if local is None:
        return "-"
    accuracy = f"{local['accuracy']:.0%}" if local["accuracy"] is not None else ""
    net = local["up"] - local["down"]
    votes = f"{net:+d}v" if local["up"] or local["down"] else ""
    return " ".join(part for part in (accuracy, votes) if part)


def _refresh(args: argparse.Namespace, settings: Settings, catalog: Catalog) -> int:
    chosen = [
        p
        for p in settings.provider_order()
        if (not args.provider or p.name in args.provider) and p.usable
    ]
    if settings.offline:
        print(
            "openmux: offline (OPENMUX_OFFLINE): remote listings are not refreshed", file=sys.stderr
        )
    results = catalog.refresh(chosen)
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        if not results:
            print("Nothing to refresh: no provider with a key or a local server.")
        for result in results:
            if not result.ok:
                print(f"{result.provider}: refresh failed ({result.error}); kept the last listing")
                continue
            parts = [f"{result.count} models"]
            for label, ids in (
                ("added", result.added),
                ("removed", result.removed),
                ("changed", result.changed),
            ):
                if ids:
                    shown = ", ".join(ids[:8]) + (
                        f" and {len(ids) - 8} more" if len(ids) > 8 else ""
                    )
                    parts.append(f"{label} {len(ids)}: {shown}")
            if len(parts) == 1:
                parts.append("no change")
            print(f"{result.provider}: " + "; ".join(parts))
    return 0 if all(r.ok for r in results) else 1
