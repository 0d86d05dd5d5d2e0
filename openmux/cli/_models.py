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
        return 2
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
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_table(rows, args, settings, catalog)
    return 0


def model_rows(
    settings: Settings,
    catalog: Catalog,
    task: str,
    providers: list[str] | None = None,
    free: bool | None = None,
) -> list[dict[str, Any]]:
    """Every chat model of the configured providers, ranked for `task` as selection would."""
    from openmux.health import health_store
    from openmux.routing._select import build_plan, rank

    health = health_store(settings.state_dir)
    local = _local_models(settings, providers)
    plan = build_plan(settings, catalog, local, include_unusable=True)
    free_only = settings.free_only if free is None else free
    pairs = [
        pair
        for entry in plan.providers
        if not providers or entry.provider.name in providers
        for pair in entry.pairs or ()
        if not (free_only and not pair.free)
    ]
    vision = task == "image"
    ranked, reasons = rank(
        catalog,
        settings,
        pairs,
        task,
        lambda p: health.p95_first_token_ms(p.provider.name, p.entry.id),
        frozenset((b.provider, b.model) for b in health.benches()),
        vision=vision,
    )
    if vision:
        ranked, reasons = _vision_first(ranked, reasons)
    from openmux.routing._select import quality_of, score_task

    task_key = score_task(task, vision)
    from openmux.quality import local_quality

    local_scores = local_quality(task_key, settings.state_dir)
    rows = []
    for number, (pair, reason) in enumerate(zip(ranked, reasons, strict=True), start=1):
        _, _phrase = quality_of(catalog, pair, task_key)
        score = catalog.score(pair.info, task_key)
        p95 = health.p95_first_token_ms(pair.provider.name, pair.entry.id)
        bench = health.bench_of(pair.provider.name, pair.entry.id)
        rows.append(
            {
                "rank": number,
                "provider": pair.provider.name,
                "model": pair.entry.id,
                "catalog_model": pair.info.id if pair.info else None,
                "capabilities": pair.facts.capabilities(),
                "context_length": pair.facts.context_length,
                "free": pair.free,
                "score": score.as_dict() if score else None,
                "local_score": _as_dict(local_scores.get((pair.provider.name, pair.entry.id))),
                "p95_ms": round(p95, 1) if p95 is not None else None,
                "status": _status(pair.provider, plan, bench is not None),
                "listing": pair.facts.offer.source if pair.facts.offer else "provider config",
                "reason": reason,
            }
        )
    return rows


def _as_dict(local: Any) -> dict[str, Any] | None:
    return local.as_dict() if local is not None else None


def _vision_first(ranked: list[Any], reasons: list[str]) -> tuple[list[Any], list[str]]:
    order = sorted(range(len(ranked)), key=lambda i: not ranked[i].entry.vision)
    return [ranked[i] for i in order], [reasons[i] for i in order]


def _local_models(settings: Settings, providers: list[str] | None) -> dict[str, list[str] | None]:
    from openmux.providers import LocalDiscovery
    from openmux.routing._graph import models_on_this_machine

    wanted = [p for p in settings.provider_order() if not providers or p.name in providers]
    return models_on_this_machine(wanted, LocalDiscovery())


def _status(provider: Any, plan: Any, benched: bool) -> str:
    entry = next(e for e in plan.providers if e.provider is provider)
    if benched:
        return "benched"
    if provider.usable and entry.hint is None:
        return "ready"
    if provider.needs_key and provider.api_key is None:
        return "no key"
    return "not running" if provider.local else "unavailable"


def _print_table(
    rows: list[dict[str, Any]], args: argparse.Namespace, settings: Settings, catalog: Catalog
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    policy = "provider order" if settings.strategy == "ordered" else f"policy {settings.policy}"
    metric = next((r["score"]["metric"] for r in rows if r["score"]), "quality")
    table = Table(
        title=f"Models for {args.task}: {policy}; score = {metric} "
        f"(~ estimate; --explain for sources); catalog {catalog.snapshot}; "
        "local = your `openmux bench` accuracy and net votes (ranked before the score)",
        title_justify="left",
    )
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("provider:model", overflow="fold")
    table.add_column("can")
    table.add_column("context", justify="right", no_wrap=True)
    table.add_column("price", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("local", justify="right", no_wrap=True)
    table.add_column("p95", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for row in rows:
        score = row["score"]
        if score is None:
            shown = "neutral"
        else:
            shown = f"{'~' if score['estimate'] else ''}{score['value']:g}"
        context = row["context_length"]
        can = [c for c in row["capabilities"] if c not in ("chat", "code")]
        table.add_row(
            str(row["rank"]),
            f"{row['provider']}:{row['model']}",
            ",".join(can) or "text",
            f"{context // 1000}k" if context else "?",
            "free" if row["free"] else "paid",
            shown,
            _local_shown(row["local_score"]),
            f"{row['p95_ms'] / 1000:.1f} s" if row["p95_ms"] is not None else "-",
            row["status"],
        )
    console.print(table)
    if args.explain:
        for row in rows:
            console.print(
                f"{row['rank']:>3}. {row['provider']}:{row['model']}: {row['reason']}",
                highlight=False,
                markup=False,
            )
    if not rows:
        console.print("No models match; try --all or another --provider.")


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
