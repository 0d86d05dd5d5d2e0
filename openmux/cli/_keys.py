"""`openmux keys list | set PROVIDER | rm PROVIDER`, and the key check `openmux init` uses."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openmux._redact import redact

if TYPE_CHECKING:
    from rich.console import Console

    from openmux.config import ProviderSettings, Settings

CHECK_TIMEOUT = 10.0


def safe(text: object) -> str:
    """Text for rich markup: keys masked, square brackets escaped."""
    from rich.markup import escape

    return escape(redact(str(text)))


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


# --------------------------------------------------------------------------- checking a key


@dataclass(frozen=True)
class KeyCheck:
    ok: bool | None  # True works, False rejected, None could not tell
    message: str


def check_key(provider: ProviderSettings, key: str, timeout: float = CHECK_TIMEOUT) -> KeyCheck:
    """One cheap authenticated call at the provider's configured base_url.

    OpenRouter: `GET {base}/key` (the key's limits); others: `GET {base}/models`.
    """
    from openmux._redact import register_secret
    from openmux.providers import FetchError, bounded_get

    register_secret(key)
    is_openrouter = provider.name == "openrouter" or provider.base_url.endswith("/api/v1")
    url = provider.base_url + ("/key" if is_openrouter else "/models")
    headers = {**provider.headers, "Authorization": f"Bearer {key}"}
    try:
        response = bounded_get(url, headers, timeout=timeout)
    except FetchError as exc:
        return KeyCheck(None, redact(f"could not check: {exc}"))
    if response.status_code in (401, 403):
        return KeyCheck(False, f"the key was rejected (HTTP {response.status_code})")
    if response.status_code >= 400:
        return KeyCheck(None, f"could not check: HTTP {response.status_code} from {url}")
    try:
        body: Any = response.json()
    except ValueError:
        return KeyCheck(None, f"could not check: {url} did not answer JSON")
    if is_openrouter:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            return KeyCheck(None, f"could not check: {url} answered without the key's limits")
        parts = ["the key works"]
        if data.get("is_free_tier"):
            parts.append("free tier")
        if data.get("limit_remaining") is not None:
            parts.append(f"{data['limit_remaining']} credits left")
        return KeyCheck(True, redact(", ".join(parts)))
    models = body.get("data") if isinstance(body, dict) else None
    if not isinstance(models, list):
        return KeyCheck(None, f"could not check: {url} answered without a model list")
    return KeyCheck(True, f"the key works, {len(models)} models")


# --------------------------------------------------------------------------- helpers


def load_settings_or_defaults(out: Console) -> Settings:
    """The effective settings; built-in defaults (and a warning) when the config is broken."""
    from openmux.config import load_settings
    from openmux.errors import ConfigError

    try:
        return load_settings()
    except ConfigError as exc:
        out.print(f"[yellow]warning:[/] {safe(exc)}; using built-in providers only")
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        empty = Path(folder) / "openmux.toml"
        empty.write_text("", encoding="utf-8")
        return load_settings(environ={**os.environ, "OPENMUX_CONFIG": str(empty)})


def takes_key(provider: ProviderSettings) -> bool:
    """A provider with a key variable (even when pointed at a loopback test server)."""
    return provider.key_env is not None and provider.protocol != "ollama"


def keyed_providers(settings: Settings) -> list[ProviderSettings]:
    return [p for p in settings.providers.values() if takes_key(p)]


def key_envs_of(provider: ProviderSettings) -> tuple[str, ...]:
    from openmux.config import BUILTIN_BY_NAME

    spec = BUILTIN_BY_NAME.get(provider.name)
    if spec is not None and provider.key_env in spec.key_envs:
        return spec.key_envs
    return (provider.key_env,) if provider.key_env else ()


def read_secret(prompt: str) -> str:
    """A key or passphrase: hidden input on a terminal, one line of stdin otherwise."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(prompt)
    return sys.stdin.readline().strip()


def passphrase_for_file(out: Console, *, confirm: bool) -> str | None:
    from openmux.config import PASSPHRASE_ENV

    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    if not sys.stdin.isatty():
        out.print(
            f"[red]The encrypted key file needs a passphrase:[/] set {PASSPHRASE_ENV}, "
            "or pass --store dotenv to keep the key in a .env file (mode 0600) instead"
        )
        return None
    while True:
        first = read_secret("Passphrase for the encrypted key file: ")
        if not first:
            return None
        if not confirm or read_secret("Repeat the passphrase: ") == first:
            return first
        out.print("[red]The two passphrases differ; try again.[/]")


def default_store() -> str:
    """The OS keyring when it is usable and encrypts; otherwise the encrypted key file."""
    from openmux.config import keyring_status

    status = keyring_status()
    return "keyring" if status.usable and not status.insecure else "file"


def plaintext_keyring_note() -> str | None:
    """A warning when the active keyring backend would keep keys in clear text."""
    from openmux.config import keyring_status

    status = keyring_status()
    if not status.insecure:
        return None
    return (
        f"[yellow]warning:[/] the keyring backend {safe(status.backend)} keeps keys in clear text; "
        "`--store file` encrypts them"
    )


def store_key(
    out: Console, provider: ProviderSettings, key: str, store: str, *, cwd: Path | None = None
) -> str | None:
    """Save a key; returns a description of where, or None after printing why not."""
    from openmux.config import _secrets

    try:
        if store == "dotenv":
            variable = provider.key_env
            if not variable:
                out.print(f"[red]{safe(provider.name)} has no key variable to write to .env[/]")
                return None
            path = _secrets.dotenv_path(cwd) or (cwd or Path.cwd()) / ".env"
            _secrets.write_dotenv_key(path, variable, key)
            return f"{path} ({variable}, mode 0600)"
        if store == "file":
            from openmux.config import keyfile_path

            exists = bool(_secrets.stored_providers())
            passphrase = passphrase_for_file(out, confirm=not exists)
            if not passphrase:
                return None
            _secrets.set_key(provider.name, key, "file", passphrase=passphrase)
            return f"the encrypted key file {keyfile_path()}"
        status = _secrets.keyring_status()
        note = plaintext_keyring_note()
        if note:
            out.print(note)
        _secrets.set_key(provider.name, key, "keyring")
        return f"the OS keyring ({status.backend.rsplit('.', 1)[-1]})"
    except _secrets.SecretsError as exc:
        out.print(f"[red]{safe(provider.name)}: not stored:[/] {safe(exc)}")
        return None


# --------------------------------------------------------------------------- commands


def run_keys(args: argparse.Namespace) -> int:
    action = args.keys_command or "list"
    if action == "list":
        return _list(args)
    if action == "set":
        return _set(args)
    return _rm(args)


def _provider(out: Console, settings: Settings, name: str) -> ProviderSettings | None:
    provider = settings.providers.get(name)
    from openmux.config import RETIRED_PROVIDERS

    if provider is None and name in RETIRED_PROVIDERS:
        out.print(f"[red]{safe(RETIRED_PROVIDERS[name])}[/]")
        return None
    if provider is None or not takes_key(provider):
        names = ", ".join(p.name for p in keyed_providers(settings))
        out.print(
            f"[red]{safe(repr(name))} is not a provider that takes a key.[/] "
            f"Use one of: {safe(names)}"
        )
        return None
    return provider


def _maybe_unlock(out: Console) -> None:
    from openmux.config import _secrets

    stores = _secrets.stored_providers()
    locked = any(_secrets.SOURCE_FILE in s for s in stores.values())
    if locked and not os.environ.get(_secrets.PASSPHRASE_ENV) and sys.stdin.isatty():
        passphrase = read_secret("Passphrase for the encrypted key file (Enter to skip): ")
        if passphrase:
            _secrets.unlock(passphrase)


def _list(args: argparse.Namespace) -> int:
    from openmux.config import key_locations

    out = console()
    settings = load_settings_or_defaults(console(stderr=True))
    if not args.json:
        _maybe_unlock(out)
    rows: list[dict[str, Any]] = []
    for provider in keyed_providers(settings):
        found = key_locations(provider.name, key_envs_of(provider))
        rows.append(
            {
                "provider": provider.name,
                "key": found[0].masked if found else None,
                "source": describe(found[0]) if found else None,
                "also_in": [describe(f) for f in found[1:]],
                "signup_url": provider.signup_url or None,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.table import Table

    table = Table(title="Provider keys (the first source found is used)")
    for column in ("provider", "key", "from", "also in"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            safe(row["provider"]),
            safe(row["key"] or "-"),
            safe(row["source"])
            if row["source"]
            else f"[dim]none (get one: {safe(row['signup_url'] or '?')})[/]",
            safe("; ".join(row["also_in"])),
        )
    out.print(table)
    return 0


def describe(location: Any) -> str:
    text = location.source
    if location.detail:
        text += f" ({location.detail})" if location.source != ".env" else f" {location.detail}"
    return text


def _set(args: argparse.Namespace) -> int:
    out = console()
    settings = load_settings_or_defaults(out)
    provider = _provider(out, settings, args.provider)
    if provider is None:
        return 2
    from openmux.config import SecretsError, validate_key_text

    raw = sys.stdin.readline() if args.stdin else read_secret(f"{provider.name} key: ")
    try:
        key = validate_key_text(raw)
    except SecretsError as exc:
        out.print(f"[red]{safe(exc)}[/]")
        return 2
    if not args.no_check:
        result = check_key(provider, key)
        mark = {True: "[green]ok[/]", False: "[red]rejected[/]", None: "[yellow]unchecked[/]"}
        out.print(f"{safe(provider.name)}: {mark[result.ok]}: {safe(result.message)}")
        if result.ok is False:
            return 1
    where = store_key(out, provider, key, args.store or default_store())
    if where is None:
        return 1
    out.print(f"{safe(provider.name)}: key stored in {safe(where)}")
    return 0


def _rm(args: argparse.Namespace) -> int:
    from openmux.config import _secrets

    out = console()
    settings = load_settings_or_defaults(out)
    provider = _provider(out, settings, args.provider)
    if provider is None:
        return 2
    stores = ("keyring", "file") if args.store in (None, "all") else (args.store,)
    try:
        removed = _secrets.remove_key(provider.name, tuple(s for s in stores if s != "dotenv"))
    except _secrets.SecretsError as exc:
        out.print(f"[red]{safe(provider.name)}: not removed:[/] {safe(exc)}")
        return 1
    if args.store in ("dotenv", "all"):
        path = _secrets.dotenv_path()
        if (
            path is not None
            and provider.key_env
            and _secrets.remove_dotenv_key(path, provider.key_env)
        ):
            removed.append(str(path))
    if removed:
        out.print(f"{safe(provider.name)}: key removed from {safe(', '.join(removed))}")
    else:
        out.print(f"{safe(provider.name)}: no stored key to remove")
    still = [v for v in key_envs_of(provider) if os.environ.get(v)]
    if still:
        out.print(
            f"{safe(provider.name)}: still set in the environment: unset {safe(', '.join(still))}"
        )
    return 0 if removed else 1
