"""The cookbook examples run end to end against loopback fake providers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.helpers import run_child

COOKBOOK = Path(__file__).resolve().parents[2] / "cookbook"


@pytest.mark.parametrize("example", ["lcel_chain.py", "tool_agent.py", "orchestrator_script.py"])
def test_example_runs(example: str) -> None:
    result = run_child(
        [sys.executable, str(COOKBOOK / example), "--fake"], timeout=120, cwd=COOKBOOK
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
