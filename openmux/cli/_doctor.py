"""`openmux doctor`: what can answer right now, and how to fix what cannot."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from openmux._redact import redact
from openmux.errors import OpenMuxError

if TYPE_CHECKING:
    from openmux.config import ProviderSettings, Settings

REMOTE_TIMEOUT = 5.0
LOCAL_TIMEOUT = 0.5
LOCAL_SECONDS = 3.0
"""The most a local server's listing may take, however steadily it arrives."""


@dataclass
class Check:
    provider: str
    key: str
    status: str
    latency_ms: float | None
    models: int | None
    fix: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _listing_path(provider: ProviderSettings) -> str:
    return "/api/tags" if provider.protocol == "ollama" else "/models"


def _list_key(provider: ProviderSettings) -> str:
    return "models" if provider.protocol == "ollama" else "data"


def _key_state(provider: ProviderSettings, settings: Settings) -> str:
    if not provider.needs_key:
        return "not needed"
    if provider.api_key is None:
        return "missing"
    source = settings.sources.get(f"providers.{provider.name}.api_key", "environment")
    return f"set ({source})"  # never the key itself


def check_provider(provider: ProviderSettings, settings: Settings) -> Check:
    from openmux.providers import FetchError, bounded_get

    key = _key_state(provider, settings)
    if provider.protocol == "llamacpp":  # in process: installed or not
        from openmux.local import INSTALL_HINT, local_chat_available

        if local_chat_available():
            return Check(provider.name, key, "ok", None, 1, "")
        return Check(provider.name, key, "not installed", None, None, INSTALL_HINT)
    if key == "missing":
        return Check(provider.name, key, "no key", None, None, _fix(provider))
    headers = {}
    if provider.api_key is not None:
        headers["Authorization"] = f"Bearer {provider.api_key.get_secret_value()}"
    timeout, total = (LOCAL_TIMEOUT, LOCAL_SECONDS) if provider.local else (REMOTE_TIMEOUT, None)
    started = time.perf_counter()
    try:
        url = provider.base_url + _listing_path(provider)
        response = bounded_get(url, headers, timeout=timeout, total=total)
    except FetchError as exc:
        if exc.reason.startswith("Connect"):
            status = "not running" if provider.local else f"unreachable ({exc.reason})"
            return Check(provider.name, key, status, None, None, _fix(provider))
        fix = f"{url} gave no whole model list ({exc}); check base_url or try later"
        return Check(provider.name, key, f"no answer ({exc.reason})", None, None, fix)
    latency = round((time.perf_counter() - started) * 1000, 1)
    if response.status_code in (401, 403):
        replace = provider.key_env or "it"
        fix = f"the key was refused: replace {replace} (openmux keys set {provider.name})"
        return Check(
            provider.name, key, f"key refused (HTTP {response.status_code})", latency, None, fix
        )
    if response.status_code >= 400:
        fix = (
            f"{provider.base_url} answered HTTP {response.status_code}; check base_url or try later"
        )
        return Check(provider.name, key, f"HTTP {response.status_code}", latency, None, fix)
    try:
        body = response.json()
    except ValueError:
        return Check(
            provider.name, key, "bad response", latency, None, "the model list is not JSON"
        )
    entries = body.get(_list_key(provider)) if isinstance(body, dict) else None
    if not isinstance(entries, list):
        fix = f"the answer holds no model list; check base_url ({provider.base_url})"
        return Check(provider.name, key, "bad response", latency, None, fix)
    count = len(entries)
    if provider.local and count == 0:
        return Check(provider.name, key, "no models", latency, 0, _fix(provider))
    return Check(provider.name, key, "ok", latency, count, "")


def _fix(provider: ProviderSettings) -> str:
    return provider.hint().removeprefix(f"{provider.name}: ")


def state_report(settings: Settings) -> dict[str, object]:
    """Which state backend this configuration uses, where, and whether it answers now."""
    from openmux.state import state_backend

    backend = state_backend(settings.state_dir, url=settings.state_url or "")
    problem = redact(backend.check())
    return {
        "backend": backend.name,
        "where": redact(backend.describe()),
        "reachable": not problem,
        "problem": problem,
    }


def _import_what_checks_use(providers: list[ProviderSettings]) -> None:
    """Import here, in one thread, what the checks import on first use. Threads importing
    the same packages at once can take their module locks in opposite orders, and Python
    then raises `_DeadlockError` in one of them (seen with `importlib.resources`, which
    httpx's transport imports through certifi while the bundled model's check imports
    it too)."""
    import httpcore  # noqa: F401  (httpx imports it for its first client)

    import openmux.providers  # (the checks fetch through its pool)

    if any(p.protocol == "llamacpp" for p in providers):
        import openmux.local  # noqa: F401


def run_doctor(args: argparse.Namespace) -> int:
    from openmux.config import load_settings
    from openmux.health import health_store

    try:
        settings = load_settings()
    except OpenMuxError as exc:
        print(f"openmux doctor: {exc}", file=sys.stderr)
        return 1
    providers = [p for p in settings.providers.values() if p.enabled]
    allowed = {p.name for p in settings.provider_order()}
    _import_what_checks_use(providers)
    with ThreadPoolExecutor(max_workers=max(1, len(providers))) as pool:
        checks = list(pool.map(lambda p: check_provider(p, settings), providers))
    for check in checks:  # a base_url may carry credentials
        check.status, check.fix = redact(check.status), redact(check.fix)
    now = time.time()
    health = health_store(settings.state_dir)
    benches = [
        {
            "provider": b.provider,
            "model": b.model,
            "reason": b.reason,
            "back_in_s": round(b.until - now, 1),
        }
        for b in health.benches(now)
    ]
    state_problems = [health.problem] if health.problem else []
    state = state_report(settings)
    from openmux.quotas import provider_notes

    notes = provider_notes((p for p in providers if p.api_key is not None), os.environ)
    usable = [c for c in checks if c.ok and c.provider in allowed]
    from openmux.cli._media import media_lines, media_makers

    makers = media_makers(settings, {c.provider for c in usable})
    if args.json:
        print(
            json.dumps(
                {
                    "providers": [asdict(c) for c in checks],
                    "benched": benches,
                    "catalog": "built-in provider table",
                    "state": state,
                    "state_problems": state_problems,
                    "notes": notes,
                    "media": makers,
                    "can_answer": bool(usable),
                },
                indent=2,
            )
        )
        return 0 if usable else 1
    _print_report(checks, benches, settings, allowed)
    print(
        f"state backend: {state['backend']} {state['where']} "
        + ("(reachable)" if state["reachable"] else f"({state['problem']})")
    )
    for problem in state_problems:
        print(f"state: {problem}")
    for note in notes:
        print(f"note: {note}")
    for line in media_lines(makers):
        print(f"media {line}")
    if not usable:
        print(
            "\nNothing can answer right now. Fix one of the problems above"
            " (a free OpenRouter key is the quickest)."
        )
        return 1
    print(f"\nReady: {len(usable)} provider(s) can answer.")
    return 0


def _print_report(
    checks: list[Check], benches: list[dict[str, object]], settings: Settings, allowed: set[str]
) -> None:
    from rich.console import Console
    from rich.table import Table

    from openmux.cli._keys import safe

    # Piped output (logs, CI) gets full lines instead of 80 columns of ellipses.
    console = Console(width=None if sys.stdout.isatty() else 200)
    table = Table(title="Providers")
    for column in ("provider", "key", "status", "latency", "models", "fix"):
        table.add_column(column)
    for check in checks:
        style = (
            "green"
            if check.ok
            else ("yellow" if check.status in ("no key", "not running") else "red")
        )
        status = (
            check.status
            if check.provider in allowed
            else f"{check.status} (not in [router] providers)"
        )
        # Fixes hold brackets (`pip install "openmux[local]"`) that rich would read as markup.
        table.add_row(
            safe(check.provider),
            safe(check.key),
            f"[{style}]{safe(status)}[/{style}]",
            f"{check.latency_ms:.0f} ms" if check.latency_ms is not None else "",
            "" if check.models is None else str(check.models),
            safe(check.fix),
        )
    console.print(table)
    if benches:
        bench_table = Table(title="Benched (no request until they return)")
        for column in ("provider", "model", "reason", "back in"):
            bench_table.add_column(column)
        for bench in benches:
            bench_table.add_row(
                safe(bench["provider"]),
                safe(bench["model"]),
                safe(bench["reason"]),
                f"{bench['back_in_s']} s",
            )
        console.print(bench_table)
    console.print("catalog: built-in provider table")
    console.print(
        f"state: {safe(settings.state_dir or 'user state directory')}; "
        f"free_only: {settings.free_only}"
    )
