"""Changing an existing openmux.toml in place: every other setting and comment stays."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openmux._redact import redact, url_credentials


def edit_base_urls(text: str, base_urls: Mapping[str, str]) -> tuple[str, list[str]]:
    """The file's text with `[providers.NAME] base_url` set, and a line per change made."""
    import tomlkit

    document = tomlkit.parse(text)
    changes: list[str] = []
    for name, url in base_urls.items():
        providers: Any = document.get("providers")
        if providers is None:
            providers = tomlkit.table(is_super_table=True)
            document["providers"] = providers
        table = providers.get(name)
        if table is None:
            table = tomlkit.table()
            providers[name] = table
        if table.get("base_url") != url:
            before = table.get("base_url")
            table["base_url"] = url
            was = f" (was {redact(str(before))})" if before is not None else ""
            changes.append(f"[providers.{name}] base_url = {redact(url)}{was}")
    return tomlkit.dumps(document), changes


def holds_secret(text: str) -> bool:
    """Credentials in a base_url, or request headers (which may carry tokens)."""
    import tomlkit

    try:
        providers = tomlkit.parse(text).get("providers") or {}
    except Exception:
        return True  # cannot tell: err on the private side
    for table in providers.values():
        if not isinstance(table, Mapping):
            continue
        if table.get("headers") or url_credentials(str(table.get("base_url", ""))):
            return True
    return False


def write_config(path: Path, text: str) -> None:
    """Write the config, mode 0600 when it holds a secret (else the usual umask)."""
    from openmux.config import write_private

    if holds_secret(text):
        write_private(path, text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")  # an existing file keeps its mode
