"""`openmux init`: find what is already set up, add keys, write openmux.toml, ask one question.

Interactive by default; `--yes` answers every question with its default, and
`--provider openrouter --key-stdin --yes` sets up without a terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openmux._redact import redact
from openmux.cli._keys import safe

if TYPE_CHECKING:
    from rich.console import Console

    from openmux.config import ProviderSettings, Settings

TEST_QUESTION = "In one short sentence: what is a router?"
STORES = ("keyring", "file", "dotenv")


class _Cancelled(Exception):
    pass


def run_init(args: argparse.Namespace) -> int:
    from openmux.cli._keys import console

    out = console()
    if not args.yes and not sys.stdin.isatty():
        # The questions would read stdin's end (or the key) as answers.
        print(
            "openmux init: stdin is not a terminal, so init cannot ask its questions: run "
            "`openmux init --yes` (add `--provider NAME --key-stdin` to store a key read "
            "from stdin)",
            file=sys.stderr,
        )
        return 2
    try:
        return _Wizard(args, out).run()
    except (KeyboardInterrupt, EOFError, _Cancelled):
        out.print("\n[yellow]Set-up cancelled; nothing more was written.[/]")
        return 130


class _Wizard:
    def __init__(self, args: argparse.Namespace, out: Console) -> None:
        self.args = args
        self.out = out
        self.interactive = not args.yes
        self.base_urls: dict[str, str] = {}
        self.new_keys: dict[str, str] = {}
        if args.base_url:
            if len(self._requested()) != 1:
                raise SystemExit("openmux init: --base-url needs exactly one --provider")
            self.base_urls[self._requested()[0]] = args.base_url.rstrip("/")

    # ------------------------------------------------------------------ prompts

    def ask(self, question: str, default: str = "", choices: list[str] | None = None) -> str:
        if not self.interactive:
            return default
        from rich.prompt import Prompt

        if default:
            return Prompt.ask(question, default=default, choices=choices, console=self.out)
        return Prompt.ask(question, choices=choices, console=self.out)

    def confirm(self, question: str, default: bool) -> bool:
        if not self.interactive:
            return default
        from rich.prompt import Confirm

        return Confirm.ask(question, default=default, console=self.out)

    def _requested(self) -> list[str]:
        names: list[str] = []
        for value in self.args.provider or []:
            names += [n.strip() for n in value.split(",") if n.strip()]
        return names

    # ------------------------------------------------------------------ steps

    def run(self) -> int:
        from openmux.cli._config import print_config_error
        from openmux.errors import ConfigError

        self.out.rule("OpenMux set-up")
        try:
            settings = self._settings()
        except ConfigError as exc:
            print_config_error(exc)
            self.out.print(
                "Fix the config file (see `openmux config validate`) and run init again."
            )
            return 1
        found_keys = self._show_found(settings)
        self._show_providers(settings)
        status = self._ask_keys(settings, found_keys)
        if status:
            return status
        if self.new_keys and not self._store_keys(settings):
            return 1
        target = self._write_config(settings)
        if target is None and self.args.here:
            return 1
        if self.args.no_test:
            self.out.print("Skipped the test question (--no-test).")
            return 0
        return self._test_question()

    def _settings(self) -> Settings:
        from openmux.config import load_settings

        overrides = {"providers": {n: {"base_url": u} for n, u in self.base_urls.items()}}
        return load_settings(overrides if self.base_urls else None)

    def _show_found(self, settings: Settings) -> set[str]:
        from openmux.cli._keys import describe, key_envs_of, takes_key
        from openmux.config import key_locations
        from openmux.providers import list_models
        from openmux.quotas import provider_notes

        self.out.print("[bold]Already here[/]")
        with_keys: set[str] = set()
        for provider in settings.providers.values():
            if not takes_key(provider):
                continue
            found = key_locations(provider.name, key_envs_of(provider))
            if found:
                with_keys.add(provider.name)
                self.out.print(
                    f"  key     {provider.name:<12} {found[0].masked or '(locked)'}"
                    f"  from {describe(found[0])}",
                    markup=False,
                )
        local = [
            p
            for p in settings.providers.values()
            if p.local and not takes_key(p) and p.protocol in ("openai", "ollama")
        ]
        with ThreadPoolExecutor(max_workers=max(1, len(local))) as pool:
            answers = list(pool.map(lambda p: list_models(p, timeout=0.5), local))
        servers = 0
        for provider, models in zip(local, answers, strict=True):
            if models is None:
                continue
            servers += 1
            shown = ", ".join(models[:3]) + (" ..." if len(models) > 3 else "")
            self.out.print(
                f"  [green]server[/]  {safe(f'{provider.name:<12}')} {safe(provider.base_url)}: "
                f"{len(models)} model(s) {safe(shown)}",
            )
        bundled = _bundled_model_ready(settings)
        if bundled:
            self.out.print(
                f"  [green]model[/]   {bundled[0]:<12} {bundled[1]}: bundled, "
                "runs on this machine (offline too)",
            )
        if not with_keys and not servers and not bundled:
            self.out.print(
                "  nothing yet: no provider key, no local model server and no bundled model"
            )
        for note in provider_notes([], os.environ):
            self.out.print(f"  [yellow]note:[/] {safe(note)}")
        return with_keys

    def _show_providers(self, settings: Settings) -> None:
        from openmux.cli._keys import takes_key
        from openmux.config import BUILTIN_BY_NAME
        from openmux.quotas import provider_notes

        self.out.print("\n[bold]Free providers[/] (one key each; the sign-up page gives it)")
        for provider in settings.providers.values():
            if not takes_key(provider):
                continue
            spec = BUILTIN_BY_NAME.get(provider.name)
            if spec.free if spec else provider.free:
                kind = "free tier"
            elif provider.free_model_suffix:
                kind = f"free models ({provider.free_model_suffix})"
            else:
                kind = "paid"
            url = provider.signup_url or "-"
            self.out.print(f"  {provider.name:<12} {kind:<20} {url}", markup=False)
            for note in provider_notes([provider], {}):
                self.out.print(f"  {'':<12} note: {note.removeprefix(provider.name + ': ')}")
        self.out.print(
            "  Local servers need no key: Ollama, LM Studio, llama.cpp (start one any time).\n"
        )

    def _ask_keys(self, settings: Settings, found: set[str]) -> int:
        from openmux.cli._keys import takes_key

        requested = self._requested()
        if not requested and self.interactive:
            keyed = [p.name for p in settings.providers.values() if takes_key(p)]
            default = "" if found else "openrouter"
            answer = self.ask(
                "Add keys for which providers? (ids separated by commas; Enter for none)",
                default=default,
            )
            requested = [n.strip() for n in answer.split(",") if n.strip()]
            unknown = [n for n in requested if n not in keyed]
            while unknown:
                self.out.print(f"[red]Unknown provider(s): {safe(', '.join(unknown))}[/]")
                answer = self.ask("Add keys for which providers?", default=default)
                requested = [n.strip() for n in answer.split(",") if n.strip()]
                unknown = [n for n in requested if n not in keyed]
        for name in requested:
            provider = settings.providers.get(name)
            if provider is None or not takes_key(provider):
                self.out.print(f"[red]{safe(repr(name))} is not a provider that takes a key.[/]")
                return 2
            filled = self._fill_url(provider)
            if filled is None:
                return 1
            key = self._key_for(filled)
            if key is None:
                if not self.interactive:
                    return 1
                continue
            self.new_keys[name] = key
        return 0

    def _fill_url(self, provider: ProviderSettings) -> ProviderSettings | None:
        """The provider with the `{placeholders}` of its base URL (an account id) filled.

        The value is asked for (or taken from --account-id) and kept in the config's
        base_url, so it serves later processes the way the stored key does.
        """
        base_url = provider.base_url
        for placeholder, env_name in provider.url_envs.items():
            token = "{" + placeholder + "}"
            if token not in base_url:
                continue
            value = (self.args.account_id or "").strip()
            if not value and self.interactive:
                value = self.ask(f"{provider.name} {placeholder.replace('_', ' ')} ({env_name})")
            if not value or not value.replace("-", "").isalnum():
                self.out.print(
                    f"[red]{safe(provider.name)}: needs {env_name} (an id of letters and "
                    "digits): set it, or pass --account-id[/]"
                )
                return None
            base_url = base_url.replace(token, value)
        if base_url == provider.base_url:
            return provider
        self.base_urls[provider.name] = base_url
        return replace(provider, base_url=base_url)

    def _key_for(self, provider: ProviderSettings) -> str | None:
        from openmux.cli._keys import check_key, read_secret
        from openmux.config import SecretsError, validate_key_text

        while True:
            if self.args.key_stdin:
                raw = sys.stdin.readline()
            elif self.interactive:
                hint = f" (get one at {provider.signup_url})" if provider.signup_url else ""
                raw = read_secret(f"{provider.name} key{hint}, input hidden, Enter to skip: ")
                if not raw.strip():
                    return None
            else:
                self.out.print(f"[red]{safe(provider.name)}: no key given (use --key-stdin)[/]")
                return None
            try:
                key = validate_key_text(raw)
            except SecretsError as exc:
                self.out.print(f"[red]{safe(provider.name)}: {safe(exc)}[/]")
                if self.args.key_stdin:
                    return None
                continue
            self.out.print(
                f"Checking the {safe(provider.name)} key at {safe(provider.base_url)} ..."
            )
            result = check_key(provider, key)
            if result.ok:
                self.out.print(f"  [green]ok[/]: {safe(result.message)}")
                return key
            if result.ok is False:
                self.out.print(f"  [red]rejected[/]: {safe(result.message)}")
                if self.args.key_stdin or not self.confirm("Try another key?", default=True):
                    return None
                continue
            self.out.print(f"  [yellow]unchecked[/]: {safe(result.message)}")
            if self.confirm("Keep this key anyway?", default=True):
                return key
            if self.args.key_stdin:
                return None

    def _store_keys(self, settings: Settings) -> bool:
        from openmux.cli._keys import default_store, store_key
        from openmux.config import keyring_status

        status = keyring_status()
        store = self.args.store
        if store is None:
            default = default_store()
            if self.interactive:
                backend = status.backend.rsplit(".", 1)[-1]
                keyring_note = f"available: {backend}" if status.usable else "not available here"
                self.out.print(
                    "\nWhere should the keys live?\n"
                    f"  keyring  the OS keyring ({safe(keyring_note)})\n"
                    "  file     an encrypted file (a passphrase protects it)\n"
                    "  dotenv   a .env file in this folder (mode 0600; keep it out of git)"
                )
            store = self.ask("Store", default=default, choices=list(STORES))
        while True:
            for name, key in self.new_keys.items():
                where = store_key(self.out, settings.providers[name], key, store)
                if where is None:
                    break
                self.out.print(f"  {safe(name)}: key stored in {safe(where)}")
            else:
                return True
            if not self.interactive:
                return False
            store = self.ask(
                "Store", default="file" if store != "file" else "dotenv", choices=list(STORES)
            )

    def _write_config(self, settings: Settings) -> Path | None:
        from openmux.cli._config_edit import write_config
        from openmux.config import CONFIG_FILE_NAME, user_config_dir

        target = (Path.cwd() if self.args.here else user_config_dir()) / CONFIG_FILE_NAME
        if not target.exists():
            write_config(target, render_config(settings, self.base_urls))
            self.out.print(f"Wrote {safe(target)}")
        elif not self._update_config(target):
            return target
        self._note_precedence(settings, target)
        return target

    def _update_config(self, target: Path) -> bool:
        """Change only what this run set; every other setting and comment stays."""
        from openmux.cli._config_edit import edit_base_urls, write_config

        old = target.read_text(encoding="utf-8-sig")  # as the settings read it
        text, changes = edit_base_urls(old, self.base_urls)
        if not changes:
            self.out.print(f"{safe(target)}: nothing to change; kept as it is.")
            return False
        for change in changes:
            self.out.print(f"  {change}", markup=False)
        update = self.args.force or self.confirm(
            f"Update {target} (the old one is kept as .bak)?", default=False
        )
        if not update:
            self.out.print(f"Kept {safe(target)} as it is.")
            return False
        write_config(target.with_suffix(".toml.bak"), old)
        write_config(target, text)
        self.out.print(f"Updated {safe(target)}: {len(changes)} setting(s) changed, the rest kept")
        return True

    def _note_precedence(self, settings: Settings, target: Path) -> None:
        from openmux.config import load_settings

        try:
            now = load_settings().config_file
        except Exception:
            now = settings.config_file
        if now is not None and now.resolve() != target.resolve():
            self.out.print(f"[yellow]note:[/] {safe(now)} takes precedence over {safe(target)}")

    def _test_question(self) -> int:
        from openmux.chat_models import ChatOpenMux
        from openmux.errors import OpenMuxError

        self.out.print(f"\nTest question: {TEST_QUESTION}")
        started = time.perf_counter()
        try:
            message = ChatOpenMux().invoke(TEST_QUESTION)
        except OpenMuxError as exc:
            self.out.print(f"[red]No answer:[/] {safe(exc)}")
            self.out.print("Your settings are saved; fix the above and try `openmux chat hello`.")
            return 1
        meta: dict[str, Any] = message.response_metadata.get("openmux", {})
        seconds = time.perf_counter() - started
        self.out.print(f"Answer: {redact(message.text.strip())[:500]}", markup=False)
        self.out.print(
            f"(answered by {meta.get('provider')}:{meta.get('model')} in {seconds:.1f} s)",
            markup=False,
        )
        self.out.print('[green]OpenMux is ready.[/] Try: openmux chat "your question"')
        return 0


def _bundled_model_ready(settings: Settings) -> tuple[str, str] | None:
    """(provider, model) of the bundled in-process model when it can answer now."""
    from openmux.local import BUNDLED_CHAT_MODEL_ID, local_chat_available

    for provider in settings.provider_order():
        if provider.protocol == "llamacpp" and provider.usable and local_chat_available():
            return provider.name, BUNDLED_CHAT_MODEL_ID
    return None


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(settings: Settings, base_urls: dict[str, str]) -> str:
    """The openmux.toml init writes: the current choices, everything else commented.

    Provider settings that differ from the built-in table (a base_url pointing at a
    proxy, a switched-off provider, a provider of your own) are carried over.
    """
    from openmux.config import BUILTIN_BY_NAME

    usable = [p.name for p in settings.providers.values() if p.enabled and (p.local or p.api_key)]
    if settings.allowed is not None:
        router_line = "providers = [" + ", ".join(_toml_string(n) for n in settings.allowed) + "]"
    else:
        router_line = (
            "# providers = [" + ", ".join(_toml_string(n) for n in usable) + "]"
            "   # allow-list and order; unset: every provider with a key or a server"
        )
    lines = [
        f"# OpenMux settings, written by `openmux init` on {date.today().isoformat()}.",
        "# Precedence: defaults < this file < .env < environment variables < arguments.",
        "",
        "[router]",
        router_line,
        f"strategy = {_toml_string(settings.strategy)}   # best | ordered",
        f"free_only = {'true' if settings.free_only else 'false'}",
        "",
        "[timeouts]   # seconds",
        f"connect = {settings.timeouts.connect:g}",
        f"first_token = {settings.timeouts.first_token:g}",
        f"total = {settings.timeouts.total:g}",
    ]
    for name, provider in settings.providers.items():
        spec = BUILTIN_BY_NAME.get(name)
        table: list[str] = []
        from_file = settings.sources.get(f"providers.{name}.base_url") not in (None, "environment")
        if name in base_urls:
            table.append(f"base_url = {_toml_string(base_urls[name])}")
        elif spec is None:
            table += [
                f"protocol = {_toml_string(provider.protocol)}",
                f"base_url = {_toml_string(provider.base_url)}",
                f"free = {'true' if provider.free else 'false'}",
            ]
            if provider.key_env:
                table.append(f"api_key_env = {_toml_string(provider.key_env)}")
        elif from_file and provider.base_url != spec.base_url.rstrip("/"):
            table.append(f"base_url = {_toml_string(provider.base_url)}")
        if provider.models_configured:
            models = ", ".join(_toml_string(m.id) for m in provider.models)
            table.append(f"models = [{models}]")
        if not provider.enabled:
            table.append("enabled = false")
        if table:
            lines += ["", f"[providers.{name}]", *table]
    lines += [
        "",
        "# [privacy]",
        '# audit_log = "openmux-audit.jsonl"   # one JSON line per provider call',
        "# audit_prompts = false",
        "# scrub_pii = false   # mask emails, phones, cards, IBANs for remote providers",
        "",
    ]
    return "\n".join(lines)
