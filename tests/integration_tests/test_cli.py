"""The `openmux` command, run as a real process against loopback fake providers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_toml, run_cli

PROVIDERS = {
    "alpha": dict(models=["m-alpha"], reply="answer from alpha"),
    "beta": dict(models=["m-beta"], reply="answer from beta"),
}


@pytest.fixture
def configured(server: FakeProviderServer, clean_environment: Path) -> Path:
    text = provider_toml(server.providers["alpha"], server.providers["beta"])
    (clean_environment / "openmux.toml").write_text(text, encoding="utf-8")
    return clean_environment


def test_chat_prints_the_answer(configured: Path) -> None:
    result = run_cli("chat", "Explain recursion in one sentence")
    assert result.returncode == 0, result.stderr
    assert "answer from alpha" in result.stdout


def test_chat_json_has_metadata(configured: Path, server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.status(500)
    result = run_cli("chat", "--json", "hello")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["response"].startswith("answer from beta")
    assert payload["openmux"]["provider"] == "beta"
    # a 500 is retried once on the same provider, then beta answers
    assert [a["status"] for a in payload["openmux"]["attempts"]] == ["http_5xx", "http_5xx", "ok"]


def test_chat_verbose_explains_routing(configured: Path, server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.status(429, retry_after=3)
    result = run_cli("chat", "-v", "--task", "code", "reverse a string in Go")
    assert result.returncode == 0, result.stderr
    assert "task: code" in result.stderr
    # The plan that ran, from the answer's metadata: the rate-limited first try, then beta.
    assert "attempt alpha:m-alpha: rate_limited" in result.stderr
    assert "answered by beta:m-beta" in result.stderr


def test_chat_reads_stdin(configured: Path) -> None:
    result = run_cli("chat", stdin="What is 2 + 2?\n")
    assert result.returncode == 0 and "answer from alpha" in result.stdout


def test_chat_without_any_provider_says_what_to_set(clean_environment: Path) -> None:
    # As on a machine without the local extra: no key, no server, no bundled model.
    (clean_environment / "openmux.toml").write_text("[providers.local]\nenabled = false\n")
    result = run_cli("chat", "hello")
    assert result.returncode == 1
    assert "OPENROUTER_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_is_reported_without_traceback(clean_environment: Path) -> None:
    (clean_environment / "openmux.toml").write_text("[router\n", encoding="utf-8")
    result = run_cli("chat", "hello")
    assert result.returncode == 1
    assert "openmux.toml:1" in result.stderr and "Traceback" not in result.stderr


def test_repl_conversation_and_commands(configured: Path) -> None:
    script = "hello\n/model beta:m-beta\nagain\n/explain\n/task auto\n/help\n/exit\n"
    result = run_cli(stdin=script)
    assert result.returncode == 0, result.stderr
    assert "answer from alpha" in result.stdout
    assert "answer from beta" in result.stdout
    assert "answered by beta:m-beta" in result.stdout
    assert "/model NAME" in result.stdout


def test_repl_refuses_an_unknown_task_and_keeps_going(configured: Path) -> None:
    result = run_cli(stdin="/task bogus\nhello\n/exit\n")
    assert result.returncode == 0, result.stderr
    assert "'bogus' is not a task" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "answer from alpha" in result.stdout  # the question after it is still answered


def test_help_lists_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("chat", "classify", "repl"):
        assert command in result.stdout


def test_python_dash_m_openmux_is_the_command(configured: Path) -> None:
    """`python -m openmux` is how many run a package's command (in a venv not on PATH,
    say); it said "No module named openmux.__main__"."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "openmux", "chat", "hello"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "answer from alpha" in result.stdout
