"""`openmux config show` (effective settings and where each came from) and `config validate`."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openmux._redact import redact
from openmux.cli._keys import safe

if TYPE_CHECKING:
    from openmux.config import Settings
    from openmux.errors import ConfigError


def run_config(args: argparse.Namespace) -> int:
    if args.config_command == "validate":
        return _validate(args)
    return _show(args)


def _environ(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    if getattr(args, "file", None):
        env["OPENMUX_CONFIG"] = str(Path(args.file).resolve())
    return env


def _load(args: argparse.Namespace) -> Settings:
    from openmux.config import load_settings

    return load_settings(environ=_environ(args))


def print_config_error(exc: ConfigError) -> None:
    from openmux.cli._keys import console

    out = console(stderr=True)
    where = exc.source or "configuration"
    if exc.line:
        where += f", line {exc.line}"
    message = str(exc)
    # The error text starts with "source:line: "; show the parts on their own lines.
    prefix = f"{exc.source}:{exc.line}: " if exc.line else f"{exc.source}: " if exc.source else ""
    if prefix and message.startswith(prefix):
        message = message[len(prefix) :]
    if exc.fix and message.endswith(f" (fix: {exc.fix})"):
        message = message[: -len(f" (fix: {exc.fix})")]
    out.print(f"[red]error:[/] {safe(message)}")
    out.print(f"  in:  {where}", markup=False)
    if exc.fix:
        out.print(f"  fix: {redact(exc.fix)}", markup=False)


def _validate(args: argparse.Namespace) -> int:
    from openmux.cli._keys import console
    from openmux.errors import ConfigError

    try:
        settings = _load(args)
    except ConfigError as exc:
        print_config_error(exc)
        return 1
    out = console()
    if settings.config_file is None:
        out.print("No config file found; the built-in defaults are valid.")
    else:
        out.print(f"{safe(settings.config_file)}: valid")
    for provider in settings.provider_order():
        if settings.allowed is not None and provider.needs_key and provider.api_key is None:
            out.print(f"[yellow]note:[/] {safe(provider.hint())}")
    return 0


def _key_source(settings: Settings, name: str) -> str:
    from openmux.cli._keys import key_envs_of
    from openmux.config import key_locations

    stored = settings.sources.get(f"providers.{name}.api_key")
    if stored:
        return stored
    provider = settings.providers[name]
    found = key_locations(name, key_envs_of(provider))
    if not found:
        return "constructor"
    first = found[0]
    if first.source == "environment":
        return f"environment ({first.detail})"
    if first.source == ".env":
        return f".env {first.detail}"
    return first.source


def effective_config(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every setting as {"value", "source"}; keys masked, never whole."""
    from openmux.cli._keys import takes_key
    from openmux.config import mask

    sources = settings.sources

    def entry(key: str, value: Any) -> dict[str, Any]:
        return {"value": value, "source": sources.get(key, "default")}

    rows: dict[str, dict[str, Any]] = {
        "router.providers": entry(
            "router.providers", list(settings.allowed) if settings.allowed is not None else None
        ),
        "router.strategy": entry("router.strategy", settings.strategy),
        "router.free_only": entry("router.free_only", settings.free_only),
        "offline": {
            "value": settings.offline,
            "source": "environment" if os.environ.get("OPENMUX_OFFLINE") else "default",
        },
    }
    for field in ("connect", "first_token", "total"):
        rows[f"timeouts.{field}"] = entry(f"timeouts.{field}", getattr(settings.timeouts, field))
    privacy = getattr(settings, "privacy", None)
    if privacy is not None:
        for field in ("audit_log", "audit_prompts", "scrub_pii", "scrub_kinds"):
            value = getattr(privacy, field, None)
            value = str(value) if isinstance(value, Path) else value
            value = list(value) if isinstance(value, tuple) else value
            rows[f"privacy.{field}"] = entry(f"privacy.{field}", value)
    for field in ("second_tier", "threshold", "model"):
        value = getattr(settings.classifier, field)
        rows[f"classifier.{field}"] = entry(f"classifier.{field}", value)
    for name, provider in settings.providers.items():
        where = f"providers.{name}"
        rows[f"{where}.enabled"] = entry(f"{where}.enabled", provider.enabled)
        rows[f"{where}.base_url"] = entry(f"{where}.base_url", provider.base_url)
        if f"{where}.protocol" in sources:
            rows[f"{where}.protocol"] = entry(f"{where}.protocol", provider.protocol)
        if f"{where}.models" in sources:
            rows[f"{where}.models"] = entry(f"{where}.models", [m.id for m in provider.models])
        if takes_key(provider):
            if provider.api_key is None:
                rows[f"{where}.api_key"] = {"value": None, "source": f"unset ({provider.key_env})"}
            else:
                rows[f"{where}.api_key"] = {
                    "value": mask(provider.api_key),
                    "source": _key_source(settings, name),
                }
    return rows


def _show(args: argparse.Namespace) -> int:
    from openmux.cli._keys import console
    from openmux.errors import ConfigError

    try:
        settings = _load(args)
    except ConfigError as exc:
        print_config_error(exc)
        return 1
    rows = effective_config(settings)
    if args.json:
        payload = {
            "config_file": str(settings.config_file) if settings.config_file else None,
            "settings": rows,
        }
        print(redact(json.dumps(payload, indent=2, ensure_ascii=False)))
        return 0
    from rich.table import Table

    out = console()
    out.print(f"config file: {settings.config_file or 'none (built-in defaults)'}", markup=False)
    table = Table(show_header=True)
    table.add_column("setting")
    table.add_column("value")
    table.add_column("source")
    for key, row in rows.items():
        if not args.all and key.startswith("providers.") and _is_quiet(rows, key):
            continue
        value = row["value"]
        shown = "-" if value is None else json.dumps(value) if not isinstance(value, str) else value
        table.add_row(safe(key), safe(shown), safe(row["source"]))
    out.print(table)
    if not args.all:
        out.print("[dim](providers left at their defaults are hidden; --all shows them)[/]")
    return 0


def _is_quiet(rows: dict[str, dict[str, Any]], key: str) -> bool:
    """A provider row left at its default, for a provider with no key configured."""
    provider = key.split(".")[1]
    prefix = f"providers.{provider}."
    own = {k: v for k, v in rows.items() if k.startswith(prefix)}
    changed = any(
        v["source"] != "default" and not v["source"].startswith("unset") for v in own.values()
    )
    return not changed
