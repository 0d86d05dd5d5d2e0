"""The layers of the design hold: import-linter's contracts in pyproject.toml are kept."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.helpers import run_child

ROOT = Path(__file__).resolve().parents[2]


def test_import_linter_contracts_are_kept() -> None:
    result = run_child(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
        ],
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
