"""Hints a newcomer reads: each points at the fix that applies to this machine and request."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from openmux.local import BUNDLED_CHAT_MODEL_ID, local_chat_available
from tests.helpers import run_cli, run_cli_without_local_extra

needs_bundled_model = pytest.mark.skipif(
    not local_chat_available(), reason='the local extra is not installed (pip install ".[local]")'
)


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


# --------------------------------------------------------------------------- openmux init


@needs_bundled_model
def test_init_counts_the_bundled_model() -> None:
    result = run_cli("init", "--yes", "--no-test", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"local        {BUNDLED_CHAT_MODEL_ID}: bundled" in result.stdout
    assert "nothing yet" not in result.stdout


def test_init_without_the_local_extra_finds_nothing() -> None:
    result = run_cli_without_local_extra("init", "--yes", "--no-test", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing yet: no provider key, no local model server and no bundled model" in (
        result.stdout
    )


def test_init_without_a_terminal_asks_for_yes() -> None:
    result = run_cli("init", timeout=120)
    assert result.returncode == 2
    assert "stdin is not a terminal" in result.stderr
    assert "openmux init --yes" in result.stderr
    assert "cancelled" not in result.stdout + result.stderr


# --------------------------------------------------------------------------- pull and keys


def test_pull_names_itself_once() -> None:
    result = run_cli("pull", "foo")
    assert result.returncode == 1
    assert result.stderr.startswith("openmux pull: cannot pull 'foo'")
    assert result.stderr.count("openmux pull:") == 1


def test_keys_set_without_keyring_or_terminal_mentions_dotenv(clean_environment: Path) -> None:
    key = "sk-or-v1-HEADLESS0123456789abcdef0123456789"
    env = _env(PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    env.pop("OPENMUX_KEYFILE_PASSPHRASE", None)
    result = run_cli("keys", "set", "openrouter", "--stdin", "--no-check", stdin=key, env=env)
    assert result.returncode == 1
    assert "OPENMUX_KEYFILE_PASSPHRASE" in result.stdout
    assert "--store dotenv" in result.stdout
    assert key not in result.stdout + result.stderr
