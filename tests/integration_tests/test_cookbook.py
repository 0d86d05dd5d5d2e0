"""The cookbook examples run end to end against loopback fake providers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

COOKBOOK = Path(__file__).resolve().parents[2] / "cookbook"


@pytest.mark.parametrize("example", ["lcel_chain.py", "tool_agent.py", "orchestrator_script.py"])
def test_example_runs(example: str) -> None:
    result = subprocess.run(
        [sys.executable, str(COOKBOOK / example), "--fake"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=COOKBOOK,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
