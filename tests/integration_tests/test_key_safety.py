"""The key file under damage and concurrency, in real `openmux keys` processes.

No key may be lost: a key file that cannot be read is never rewritten, and
writers running at the same time all land.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_cli

pytest.importorskip("keyrings.alt")

PASSPHRASE = "correct horse battery staple"
PROVIDERS = (
    "openrouter",
    "groq",
    "mistral",
    "cerebras",
    "gemini",
    "nvidia",
    "huggingface",
    "together",
)


def key_for(name: str) -> str:
    return f"zz-{name}-key-0123456789abcdef0123456789"


@pytest.fixture
def keyfile(clean_environment: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = clean_environment.parent / "home"
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("OPENMUX_KEYFILE_PASSPHRASE", PASSPHRASE)
    return home / ".config" / "openmux" / "keys.json"


def keys_set(name: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "keys", "set", name, "--stdin", "--no-check", "--store", "file", *extra,
        stdin=key_for(name) + "\n", timeout=120,
    )  # fmt: skip


def stored(keyfile: Path) -> set[str]:
    return set(json.loads(keyfile.read_text())["encrypted"]["keys"])


def store_four(keyfile: Path) -> None:
    for name in PROVIDERS[:4]:
        assert keys_set(name).returncode == 0
    assert stored(keyfile) == set(PROVIDERS[:4])


def flip_a_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x55
    path.write_bytes(bytes(data))


# --------------------------------------------------------------------------- item 1


@pytest.mark.parametrize("damage", ["flipped byte", "truncated"])
@pytest.mark.parametrize("command", ["rm", "set"])
def test_a_damaged_key_file_is_never_rewritten(keyfile: Path, damage: str, command: str) -> None:
    store_four(keyfile)
    if damage == "flipped byte":
        flip_a_byte(keyfile, 0)  # the opening brace: no longer JSON
    else:
        keyfile.write_bytes(keyfile.read_bytes()[: keyfile.stat().st_size // 2])
    damaged = keyfile.read_bytes()

    result = run_cli("keys", "rm", "openrouter") if command == "rm" else keys_set("together")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert str(keyfile) in output.replace("\n", "")
    assert "cannot be read" in output and "To recover" in output
    assert "Traceback" not in output
    assert keyfile.read_bytes() == damaged  # untouched: the keys can still be recovered
    # The last good version is kept beside it, and it still holds every key.
    backup = keyfile.with_name("keys.json.bak")
    assert backup.name in output.replace("\n", "")
    assert set(json.loads(backup.read_text())["encrypted"]["keys"]) >= set(PROVIDERS[:3])


def test_recovery_from_the_backup_restores_every_key(keyfile: Path) -> None:
    store_four(keyfile)
    assert keys_set("together").returncode == 0  # the .bak now holds the four
    keyfile.write_text("{", encoding="utf-8")
    keyfile.with_name("keys.json.bak").replace(keyfile)
    listing = run_cli("keys", "list", "--json")
    found = {row["provider"] for row in json.loads(listing.stdout) if row["key"]}
    assert found == set(PROVIDERS[:4])


# --------------------------------------------------------------------------- item 2


def test_eight_concurrent_writers_all_land(keyfile: Path) -> None:
    env = dict(os.environ)
    commands = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "openmux.cli",
                "keys",
                "set",
                name,
                "--stdin",
                "--no-check",
                "--store",
                "file",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in PROVIDERS
    ]
    for process, name in zip(commands, PROVIDERS, strict=True):
        assert process.stdin is not None
        process.stdin.write(key_for(name) + "\n")
        process.stdin.close()
    for process in commands:
        assert process.wait(timeout=300) == 0, process.stderr.read() if process.stderr else ""
    assert stored(keyfile) == set(PROVIDERS)
    listing = json.loads(run_cli("keys", "list", "--json").stdout)
    assert {row["provider"] for row in listing if row["key"]} == set(PROVIDERS)
    leftovers = [p.name for p in keyfile.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


# --------------------------------------------------------------------------- item 8


def test_a_plaintext_keyring_is_not_the_default_store(keyfile: Path) -> None:
    result = run_cli("keys", "set", "groq", "--stdin", "--no-check", stdin=key_for("groq") + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "encrypted key file" in result.stdout
    assert stored(keyfile) == {"groq"}
    assert not in_plaintext_keyring(keyfile, key_for("groq"))


def test_an_explicit_plaintext_keyring_is_warned_about(keyfile: Path) -> None:
    result = run_cli(
        "keys", "set", "groq", "--stdin", "--no-check", "--store", "keyring",
        stdin=key_for("groq") + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "clear text" in result.stdout and "--store file" in result.stdout
    assert in_plaintext_keyring(keyfile, key_for("groq"))


def in_plaintext_keyring(keyfile: Path, key: str) -> bool:
    """PlaintextKeyring keeps base64 text: enough to see whether the key is there."""
    home = keyfile.parents[2]
    path = home / ".local" / "share" / "python_keyring" / "keyring_pass.cfg"
    encoded = base64.b64encode(key.encode()).decode()
    return path.is_file() and encoded in path.read_text().replace("\n\t", "")


# --------------------------------------------------------------------------- item 12


def test_a_key_file_that_is_a_directory_gets_one_line(keyfile: Path) -> None:
    keyfile.mkdir(parents=True)
    for args in (("keys", "list"), ("keys", "rm", "groq"), ("config", "show")):
        result = run_cli(*args)
        assert "Traceback" not in result.stderr, args
    result = keys_set("groq")
    assert result.returncode == 1
    assert "is a directory" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_absurd_scrypt_parameters_are_refused_not_run(keyfile: Path) -> None:
    assert keys_set("groq").returncode == 0
    data = json.loads(keyfile.read_text())
    data["encrypted"]["n"] = 2**40  # would need 128 TiB of memory
    keyfile.write_text(json.dumps(data))
    result = keys_set("mistral")
    assert result.returncode == 1
    assert "out of range" in result.stdout + result.stderr
    chat = run_cli("config", "show")
    assert "Traceback" not in chat.stderr


# --------------------------------------------------------------------------- item 15


def test_a_damaged_key_file_is_reported_once_per_process(keyfile: Path) -> None:
    store_four(keyfile)
    keyfile.write_text("{ not json", encoding="utf-8")
    code = "from openmux.config import load_settings\nfor _ in range(20):\n    load_settings()\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("cannot be read") == 1, result.stderr
