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


def test_packages_import_each_others_public_names_only() -> None:
    """`from openmux.config._secrets import ...` outside openmux.config is a private reach."""
    import ast

    reaches = []
    for path in sorted((ROOT / "openmux").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        package = parts[1] if len(parts) > 2 else None
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                bits = module.split(".")
                private = len(bits) > 2 and bits[2].startswith("_")
                if bits[0] == "openmux" and private and bits[1] != package:
                    reaches.append(f"{path.relative_to(ROOT)}:{node.lineno}: {module}")
    assert reaches == []
