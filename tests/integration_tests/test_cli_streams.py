"""Standard streams a shell closed (`>&-`, `2>&-`, `<&-`) or a reader left early (`| head`):
one line on stderr or a quiet end, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openmux.testing import FakeProviderServer, Fault
from tests.helpers import default_signals, provider_toml

PROVIDERS = {"fake": dict(models=["fake-model"], reply="hello")}

# Commands whose output is plain `print`: JSON, tables and answers.
PRINTING = [
    ("chat", "--no-stream", "hi"),
    ("chat", "--json", "hi"),
    ("models",),
    ("models", "--json"),
    ("doctor", "--json"),
    ("stats",),
    ("stats", "--json"),
    ("classify", "hi"),
    ("config", "show", "--json"),
]


@pytest.fixture
def configured(server: FakeProviderServer, clean_environment: Path) -> Path:
    text = provider_toml(server.providers["fake"])
    (clean_environment / "openmux.toml").write_text(text, encoding="utf-8")
    return clean_environment


def _openmux(
    args: tuple[str, ...], preexec: Callable[[], None] = default_signals, **streams: Any
) -> subprocess.CompletedProcess[str]:
    # Buffered as a user's shell has it: with PYTHONUNBUFFERED every print fails at once,
    # never at exit where the interpreter reports the failure itself.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    options: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **streams}
    return subprocess.run(
        [sys.executable, "-m", "openmux", *args], text=True, env=env, timeout=120,
        preexec_fn=preexec, stdin=options.pop("stdin", subprocess.DEVNULL), **options,
    )  # fmt: skip


def _closing(fd: int) -> Callable[[], None]:
    def close() -> None:
        default_signals()
        os.close(fd)

    return close


@pytest.mark.parametrize("args", PRINTING, ids=" ".join)
def test_a_reader_gone_before_the_output_ends_it_quietly(configured: Path, args: tuple) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head -c1` has it once head is done
    try:
        result = _openmux(args, stdout=write_end)
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == 141  # 128 + SIGPIPE, as a shell reports a piped command


@pytest.mark.parametrize("args", [("chat", "--no-stream", "hi"), ("models",), ("doctor",)])
def test_a_closed_stdout_is_one_line(configured: Path, args: tuple) -> None:
    result = _openmux(args, preexec=_closing(1), stdout=None)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "openmux: standard output is closed: redirect it to a file or to /dev/null"
    ]


def test_a_closed_stderr_leaves_stdout_to_the_answer(
    configured: Path, server: FakeProviderServer
) -> None:
    ok = _openmux(("chat", "--json", "hi"), preexec=_closing(2), stderr=None)
    assert json.loads(ok.stdout)["response"] == "hello"
    server.providers["fake"].fault = Fault.status(500)
    failed = _openmux(("chat", "--json", "hi"), preexec=_closing(2), stderr=None)
    assert failed.returncode == 1
    assert failed.stdout == ""  # the error went nowhere, not into the answer's place


@pytest.mark.parametrize("args", [("chat",), ("repl",)])
def test_a_closed_stdin_is_no_question(configured: Path, args: tuple) -> None:
    result = _openmux(args, preexec=_closing(0), stdin=None)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 2), result.stderr
