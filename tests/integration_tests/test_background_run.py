"""The tests that interrupt a child process pass in a test run started in the background.

`nohup pytest &`, or `pytest &` from a script, starts pytest with SIGINT ignored and stdin
not a terminal, and child processes inherit the ignored SIGINT: a child a test interrupts
with Ctrl-C never stops unless the test gives it the default handling back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pexpect")

ROOT = Path(__file__).resolve().parents[2]

# Every test that sends a child SIGINT (its Ctrl-C).
INTERRUPTING_TESTS = [
    "tests/unit_tests/test_testing_server.py::test_command_line_server",
    "tests/integration_tests/test_init.py::test_wizard_ctrl_c_cancels",
    "tests/integration_tests/test_cli_errors.py::test_ctrl_c_ends_with_one_line",
]


def _as_in_the_background() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.slow
def test_interrupting_tests_pass_with_sigint_ignored() -> None:
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *INTERRUPTING_TESTS],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # no controlling terminal, as under nohup
        preexec_fn=_as_in_the_background,
    )
    try:
        output, _ = run.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)  # the run and every child it left behind
        output, _ = run.communicate()
        pytest.fail(f"the run did not finish in 10 minutes:\n{output[-3000:]}")
    assert run.returncode == 0, output[-3000:]
    assert f"{len(INTERRUPTING_TESTS)} passed" in output
