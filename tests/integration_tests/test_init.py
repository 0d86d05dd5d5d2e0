"""`openmux init`, `keys` and `config` as real processes; the wizard typed into a pseudo-terminal.

Keys are checked against a loopback fake OpenRouter; the OS keyring is keyrings.alt's
file-based PlaintextKeyring with its file under the temporary HOME.
"""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from openmux.local import local_chat_available
from openmux.testing import FakeProvider, FakeProviderServer, Fault
from tests.helpers import default_signals, run_cli

pexpect = pytest.importorskip("pexpect")
pytest.importorskip("keyrings.alt")

KEY = "sk-or-v1-INITKEY0123456789abcdef0123456789abcdef"
MODEL = "meta-llama/llama-3.3-70b-instruct:free"
REPLY = "A router forwards packets between networks."
PASSPHRASE = "tr0ub4dor&3 horse"


CF_TOKEN = "cf-INITTOKEN0123456789abcdef0123456789"
CF_MODEL = "@cf/meta/llama-3.1-8b-instruct"

PROVIDERS = {
    "openrouter": dict(models=[MODEL], reply=REPLY),
    "cloudflare": dict(models=[CF_MODEL], reply=REPLY),
}


@pytest.fixture
def provider(server: FakeProviderServer) -> FakeProvider:
    return server.providers["openrouter"]


@pytest.fixture
def home(clean_environment: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = clean_environment.parent / "home"
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("OPENMUX_KEYFILE_PASSPHRASE", raising=False)
    return home


def user_config(home: Path) -> Path:
    return home / ".config" / "openmux" / "openmux.toml"


def keyring_file(home: Path) -> Path:
    return home / ".local" / "share" / "python_keyring" / "keyring_pass.cfg"


def in_keyring(home: Path) -> bool:
    """PlaintextKeyring keeps base64 text: enough to see whether the key is there."""
    path = keyring_file(home)
    encoded = base64.b64encode(KEY.encode()).decode()
    return path.is_file() and encoded in path.read_text().replace("\n\t", "")


def keys_index(home: Path) -> dict[str, object]:
    return json.loads((home / ".config" / "openmux" / "keys.json").read_text())  # type: ignore[no-any-return]


def run(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`openmux ARGS` with this test's environment plus `env`."""
    return run_cli(*args, stdin=stdin, env={**os.environ, **(env or {})}, timeout=120)


Spawn = Callable[..., tuple[pexpect.spawn, io.StringIO]]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """`openmux ARGS` on a pseudo-terminal; still running after the test, it is killed."""
    children: list[pexpect.spawn] = []

    def start(*args: str) -> tuple[pexpect.spawn, io.StringIO]:
        transcript = io.StringIO()
        child = pexpect.spawn(
            sys.executable,
            ["-m", "openmux.cli", *args],
            env=dict(os.environ),
            cwd=os.getcwd(),
            encoding="utf-8",
            timeout=60,
            dimensions=(50, 200),
            preexec_fn=default_signals,
            use_poll=True,  # select() fails above 1024 descriptors, which a long run reaches
        )
        child.logfile_read = transcript
        children.append(child)
        return child, transcript

    yield start
    for child in children:
        child.close(force=True)


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return int(child.exitstatus if child.exitstatus is not None else -1)


# --------------------------------------------------------------------------- the wizard


def test_wizard_finds_nothing_adds_a_key_to_the_keyring(
    home: Path, provider: FakeProvider, spawn: Spawn
) -> None:
    config = user_config(home)
    config.parent.mkdir(parents=True)
    config.write_text(
        f'[providers.openrouter]\nbase_url = "{provider.openrouter_base_url}"\n', encoding="utf-8"
    )
    child, transcript = spawn("init")
    child.expect("Already here")
    # No key and no server; the bundled model counts when the local extra is installed.
    child.expect(r"model\s+local\s+SmolLM2" if local_chat_available() else "nothing yet")
    child.expect(r"openrouter\s+free models \(:free\)\s+https://openrouter.ai/keys")
    child.expect(r"groq\s+free tier\s+https://console.groq.com/keys")
    child.expect(r"Add keys for which providers\?.*\(openrouter\): ")
    child.sendline("")  # the default
    child.expect("openrouter key .*input hidden.*: ")
    child.sendline(KEY)
    child.expect("ok: the key works, free tier")
    child.expect(r"keyring\s+the OS keyring \(available: PlaintextKeyring\)")
    # A keyring that keeps keys in clear text is not the default...
    child.expect(r"Store \[keyring/file/dotenv\] \(file\): ")
    child.sendline("keyring")
    # ...and choosing it anyway is warned about.
    child.expect("keeps keys in clear text")
    child.expect("key stored in the OS keyring")
    # The config already says what this run would write: it is left alone.
    child.expect("nothing to change; kept as it is")
    child.expect("Answer: " + REPLY)
    child.expect(f"answered by openrouter:{MODEL}")
    assert finish(child) == 0
    assert KEY not in transcript.getvalue()  # typed without echo, never printed

    assert in_keyring(home)
    assert keys_index(home)["keyring"] == ["openrouter"]
    written = config.read_text()
    assert provider.openrouter_base_url in written  # the override was kept
    assert not config.with_suffix(".toml.bak").exists()
    checks = [r for r in provider.requests if r.endpoint == "key"]
    assert checks and checks[0].headers["authorization"] == f"Bearer {KEY}"
    chats = [r for r in provider.requests if r.endpoint == "chat"]
    assert chats and chats[-1].headers["authorization"] == f"Bearer {KEY}"


def test_wizard_retries_a_rejected_key_and_uses_the_encrypted_file(
    home: Path, provider: FakeProvider, spawn: Spawn
) -> None:
    provider.fault = Fault.status(401, on_listing=True)
    child, transcript = spawn(
        "init", "--provider", "openrouter", "--base-url", provider.openrouter_base_url
    )
    child.expect("openrouter key .*: ")
    child.sendline("sk-or-v1-wrongkey000000000000000")
    child.expect(r"rejected: the key was rejected \(HTTP 401\)")
    child.expect(r"Try another key\? \[y/n\] \(y\): ")
    provider.fault = None
    child.sendline("y")
    child.expect("openrouter key .*: ")
    child.sendline(KEY)
    child.expect("ok: the key works")
    child.expect(r"keyring\s+the OS keyring")
    child.expect(r"Store \[keyring/file/dotenv\]")
    child.sendline("file")
    child.expect("Passphrase for the encrypted key file: ")
    child.sendline(PASSPHRASE)
    child.expect("Repeat the passphrase: ")
    child.sendline("not the same")
    child.expect("differ")
    child.expect("Passphrase for the encrypted key file: ")
    child.sendline(PASSPHRASE)
    child.expect("Repeat the passphrase: ")
    child.sendline(PASSPHRASE)
    child.expect("key stored in the encrypted key file")
    child.expect("Wrote ")
    child.expect("Answer: " + REPLY)
    assert finish(child) == 0
    assert KEY not in transcript.getvalue() and PASSPHRASE not in transcript.getvalue()

    keyfile = home / ".config" / "openmux" / "keys.json"
    assert KEY not in keyfile.read_text()
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    assert not keyring_file(home).exists()
    # Later processes find the key with the passphrase, and only then.
    locked = json.loads(run("keys", "list", "--json").stdout)
    row = next(r for r in locked if r["provider"] == "openrouter")
    assert row["source"].startswith("encrypted file (locked")
    env = {"OPENMUX_KEYFILE_PASSPHRASE": PASSPHRASE}
    unlocked = json.loads(run("keys", "list", "--json", env=env).stdout)
    row = next(r for r in unlocked if r["provider"] == "openrouter")
    assert row == {**row, "source": "encrypted file", "key": f"{KEY[:4]}…{KEY[-4:]}"}
    answer = run("chat", "--no-stream", "hello", env=env)
    assert answer.returncode == 0, answer.stderr
    assert REPLY in answer.stdout


def test_wizard_writes_dotenv_here(
    home: Path, provider: FakeProvider, clean_environment: Path, spawn: Spawn
) -> None:
    child, _ = spawn(
        "init", "--here", "--provider", "openrouter", "--base-url", provider.openrouter_base_url
    )
    child.expect("openrouter key .*: ")
    child.sendline(KEY)
    child.expect(r"Store \[keyring/file/dotenv\]")
    child.sendline("dotenv")
    child.expect(r"key stored in .*\.env \(OPENROUTER_API_KEY, mode 0600\)")
    child.expect("Answer: " + REPLY)
    assert finish(child) == 0
    dotenv = clean_environment / ".env"
    assert dotenv.read_text() == f"OPENROUTER_API_KEY={KEY}\n"
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600
    assert (clean_environment / "openmux.toml").is_file()
    assert not user_config(home).exists()


def test_wizard_reports_existing_keys_and_servers(
    home: Path,
    provider: FakeProvider,
    server: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    spawn: Spawn,
) -> None:
    ollama = server.add_provider("ollama", models=["llama3.2"])
    monkeypatch.setenv("OLLAMA_HOST", ollama.ollama_base_url)
    monkeypatch.setenv("GROQ_API_KEY", "gsk_existingkey0123456789abcdefXYZ")
    child, transcript = spawn("init", "--no-test")
    child.expect(r"key\s+groq\s+gsk_…fXYZ\s+from environment \(GROQ_API_KEY\)")
    child.expect(r"server\s+ollama\s+.*1 model\(s\) llama3.2")
    child.expect(r"Add keys for which providers\?.*: ")
    child.sendline("nosuchprovider")
    child.expect("Unknown provider")
    child.expect(r"Add keys for which providers\?.*: ")
    child.sendline("")
    child.expect("Wrote ")
    child.expect("Skipped the test question")
    assert finish(child) == 0
    assert "existingkey" not in transcript.getvalue()


def test_wizard_ctrl_c_cancels(home: Path, spawn: Spawn) -> None:
    child, _ = spawn("init")
    child.expect(r"Add keys for which providers\?")
    child.sendintr()
    # Once, in a long run on a loaded machine, the terminal echoed the first ^C and the
    # wizard never saw it; a person would press it again, and so does the test after 10 s.
    if child.expect(["cancelled", pexpect.TIMEOUT], timeout=10) == 1:
        child.sendintr()
        child.expect("cancelled")
    assert finish(child) == 130
    assert not user_config(home).exists()


# --------------------------------------------------------------------------- non-interactive


def test_non_interactive_init(home: Path, provider: FakeProvider) -> None:
    result = run(
        "init", "--provider", "openrouter", "--key-stdin", "--yes", "--store", "keyring",
        "--base-url", provider.openrouter_base_url,
        stdin=KEY + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: the key works" in result.stdout
    assert REPLY in result.stdout
    assert f"answered by openrouter:{MODEL}" in result.stdout
    assert KEY not in result.stdout + result.stderr
    assert in_keyring(home)
    assert provider.openrouter_base_url in user_config(home).read_text()
    # The stored key serves later processes with no variable set.
    answer = run("chat", "--json", "hello")
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["openmux"]["provider"] == "openrouter"
    shown = json.loads(run("config", "show", "--json").stdout)["settings"]
    assert shown["providers.openrouter.api_key"]["source"] == "keyring"
    assert shown["providers.openrouter.base_url"]["value"] == provider.openrouter_base_url


def test_non_interactive_rejected_key_stores_nothing(home: Path, provider: FakeProvider) -> None:
    provider.fault = Fault.status(401, on_listing=True)
    result = run(
        "init", "--provider", "openrouter", "--key-stdin", "--yes",
        "--base-url", provider.openrouter_base_url,
        stdin="sk-or-v1-wrongkey000000000000000\n",
    )  # fmt: skip
    assert result.returncode == 1
    assert "rejected" in result.stdout
    assert not user_config(home).exists()
    assert not (home / ".config" / "openmux" / "keys.json").exists()


@pytest.mark.parametrize("store", ["file", "dotenv"])
def test_non_interactive_other_stores(
    home: Path, provider: FakeProvider, clean_environment: Path, store: str
) -> None:
    env = {"OPENMUX_KEYFILE_PASSPHRASE": PASSPHRASE}
    result = run(
        "init", "--provider", "openrouter", "--key-stdin", "--yes", "--store", store,
        "--base-url", provider.openrouter_base_url,
        stdin=KEY + "\n", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert REPLY in result.stdout
    if store == "dotenv":
        assert (clean_environment / ".env").read_text() == f"OPENROUTER_API_KEY={KEY}\n"
    else:
        assert "openrouter" in keys_index(home)["encrypted"]["keys"]  # type: ignore[index]


def test_init_asks_for_the_account_id_a_base_url_needs(
    home: Path, server: FakeProviderServer
) -> None:
    # Cloudflare's URL holds the account id: init fills it in and keeps it in the config.
    templated = server.providers["cloudflare"].cloudflare_base_url("{account_id}")
    args = (
        "init", "--provider", "cloudflare", "--key-stdin", "--yes", "--store", "keyring",
        "--base-url", templated,
    )  # fmt: skip
    missing = run(*args, stdin=CF_TOKEN + "\n")
    assert missing.returncode == 1
    assert "CLOUDFLARE_ACCOUNT_ID" in missing.stdout
    assert not user_config(home).exists()

    result = run(*args, "--account-id", "acct0123", stdin=CF_TOKEN + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: the key works" in result.stdout
    assert CF_TOKEN not in result.stdout + result.stderr
    assert templated.replace("{account_id}", "acct0123") in user_config(home).read_text()
    answer = run("chat", "--json", "--provider", "cloudflare", "hello")
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["openmux"]["provider"] == "cloudflare"


def test_file_store_without_passphrase_fails_clearly(home: Path, provider: FakeProvider) -> None:
    result = run(
        "init", "--provider", "openrouter", "--key-stdin", "--yes", "--store", "file",
        "--base-url", provider.openrouter_base_url,
        stdin=KEY + "\n",
    )  # fmt: skip
    assert result.returncode == 1
    assert "OPENMUX_KEYFILE_PASSPHRASE" in result.stdout


def test_init_refuses_a_broken_config(home: Path, clean_environment: Path) -> None:
    (clean_environment / "openmux.toml").write_text("[router]\nstrategy = 'fastest'\n")
    result = run("init", "--yes")
    assert result.returncode == 1  # as in every command: 2 is for the command line
    assert "openmux.toml" in result.stderr and "line 2" in result.stderr


# --------------------------------------------------------------------------- keys and config


def test_keys_set_list_rm(home: Path, provider: FakeProvider, clean_environment: Path) -> None:
    (clean_environment / "openmux.toml").write_text(
        f'[providers.openrouter]\nbase_url = "{provider.openrouter_base_url}"\n'
    )
    result = run("keys", "set", "openrouter", "--stdin", "--store", "keyring", stdin=KEY + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stored in the OS keyring" in result.stdout
    listing = run("keys", "list")
    assert "openrouter" in listing.stdout and f"{KEY[:4]}…{KEY[-4:]}" in listing.stdout
    assert KEY not in listing.stdout
    rows = json.loads(run("keys", "list", "--json").stdout)
    assert next(r for r in rows if r["provider"] == "openrouter")["source"] == "keyring"
    groq = next(r for r in rows if r["provider"] == "groq")
    assert groq["key"] is None and groq["signup_url"] == "https://console.groq.com/keys"

    removed = run("keys", "rm", "openrouter")
    assert removed.returncode == 0 and "removed from keyring" in removed.stdout
    assert not in_keyring(home)
    assert run("keys", "rm", "openrouter").returncode == 1
    assert run("keys", "set", "nosuch", "--stdin", stdin=KEY).returncode == 2


def test_keys_set_rejected_and_unchecked(
    home: Path, provider: FakeProvider, clean_environment: Path
) -> None:
    (clean_environment / "openmux.toml").write_text(
        f'[providers.openrouter]\nbase_url = "{provider.openrouter_base_url}"\n'
    )
    provider.fault = Fault.status(403, on_listing=True)
    result = run("keys", "set", "openrouter", "--stdin", stdin=KEY + "\n")
    assert result.returncode == 1 and "rejected" in result.stdout
    result = run(
        "keys", "set", "openrouter", "--stdin", "--no-check", "--store", "dotenv", stdin=KEY
    )
    assert result.returncode == 0
    assert (clean_environment / ".env").read_text() == f"OPENROUTER_API_KEY={KEY}\n"


@pytest.mark.parametrize("name", ["openrouter", "groq"])
@pytest.mark.parametrize("body", ["[1, 2, 3]", "null", "{}", '{"data": 5}'])
def test_a_key_check_answered_with_no_listing_cannot_tell(
    server: FakeProviderServer, name: str, body: str
) -> None:
    """JSON that is neither the key's limits nor a model list (a proxy's or a portal's
    answer) says nothing of the key: it is not reported as working."""
    from openmux.cli._keys import check_key
    from openmux.config import load_settings

    fake = server.providers.get(name) or server.add_provider(name, models=[MODEL])
    fake.fault = Fault.garbage(body, content_type="application/json", on_listing=True)
    base = fake.openrouter_base_url if name == "openrouter" else fake.base_url
    settings = load_settings({"providers": {name: {"base_url": base}}})
    result = check_key(settings.providers[name], KEY)
    assert result.ok is None and result.message.startswith("could not check"), result


def test_config_validate_names_file_line_and_fix(clean_environment: Path) -> None:
    path = clean_environment / "openmux.toml"
    path.write_text("[router]\nstrategy = 'best'\n\n[timeouts]\nconect = 3\n")
    result = run("config", "validate")
    assert result.returncode == 1
    assert "unknown key [timeouts] `conect`" in result.stderr
    assert f"{path}, line 5" in result.stderr
    assert "fix: did you mean `connect`?" in result.stderr
    path.write_text("[router]\nstrategy = 'ordered'\n")
    ok = run("config", "validate")
    assert ok.returncode == 0 and "valid" in ok.stdout
    other = clean_environment / "other.toml"
    other.write_text("[router\n")
    bad = run("config", "validate", str(other))
    assert bad.returncode == 1 and "invalid TOML" in bad.stderr


def test_config_show_sources(clean_environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = clean_environment / "openmux.toml"
    path.write_text("[router]\nstrategy = 'ordered'\n[providers.groq]\nenabled = false\n")
    monkeypatch.setenv("OPENMUX_FREE_ONLY", "0")
    shown = json.loads(run("config", "show", "--json").stdout)
    settings = shown["settings"]
    assert shown["config_file"] == str(path)
    assert settings["router.strategy"] == {"value": "ordered", "source": str(path)}
    assert settings["router.free_only"] == {"value": False, "source": "environment"}
    assert settings["timeouts.total"]["source"] == "default"
    assert settings["providers.groq.enabled"] == {"value": False, "source": str(path)}
    table = run("config", "show")
    assert table.returncode == 0 and "router.strategy" in table.stdout


# --------------------------------------------------------------------------- rewriting a config

FULL_CONFIG = """\
# my settings: keep this comment
[router]
policy = "latency"
prefer = ["groq"]
exclude = ["mistral"]
max_attempts = 3
hedge_after_ms = 900

[privacy]
scrub_pii = true   # never off by accident

[classifier]
second_tier = true

[providers.openrouter]
base_url = "http://127.0.0.1:9/api/v1"
headers = { X-Team = "blue" }

[providers.groq]
embedding_models = ["embed-1"]
"""


def test_init_force_keeps_every_other_setting_and_says_what_changed(
    home: Path, provider: FakeProvider
) -> None:
    config = user_config(home)
    config.parent.mkdir(parents=True)
    config.write_text(FULL_CONFIG, encoding="utf-8")
    result = _init_openrouter(provider)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"[providers.openrouter] base_url = {provider.openrouter_base_url}" in result.stdout
    assert "(was http://127.0.0.1:9/api/v1)" in result.stdout
    assert "1 setting(s) changed" in result.stdout
    expected = FULL_CONFIG.replace("http://127.0.0.1:9/api/v1", provider.openrouter_base_url)
    assert config.read_text() == expected  # every other line, comments included
    assert config.with_suffix(".toml.bak").read_text() == FULL_CONFIG
    assert stat.S_IMODE(config.stat().st_mode) == 0o600  # it holds request headers
    shown = json.loads(run("config", "show", "--json").stdout)["settings"]
    assert shown["privacy.scrub_pii"]["value"] is True

    again = _init_openrouter(provider)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to change" in again.stdout
    assert config.read_text() == expected


def _init_openrouter(provider: FakeProvider) -> subprocess.CompletedProcess[str]:
    """`openmux init` for OpenRouter at the fake's address, its key on stdin."""
    return run(
        "init", "--provider", "openrouter", "--key-stdin", "--yes", "--force", "--no-test",
        "--store", "dotenv", "--base-url", provider.openrouter_base_url,
        stdin=KEY + "\n",
    )  # fmt: skip


def test_a_config_saved_with_a_byte_order_mark_is_read_and_updated(
    home: Path, provider: FakeProvider
) -> None:
    # Windows editors save "UTF-8 with BOM"; the mark is invisible, so the file is fine.
    config = user_config(home)
    config.parent.mkdir(parents=True)
    config.write_bytes(b"\xef\xbb\xbf" + FULL_CONFIG.encode())
    validated = run("config", "validate", str(config))
    assert validated.returncode == 0, validated.stdout + validated.stderr
    result = _init_openrouter(provider)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 setting(s) changed" in result.stdout
    expected = FULL_CONFIG.replace("http://127.0.0.1:9/api/v1", provider.openrouter_base_url)
    assert config.read_text(encoding="utf-8-sig") == expected
    assert config.with_suffix(".toml.bak").read_text(encoding="utf-8-sig") == FULL_CONFIG
