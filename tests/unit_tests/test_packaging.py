"""What installing OpenMux adds to an environment, and what `pip show openmux` says."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _pyproject() -> dict[str, Any]:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def test_installing_loads_no_pytest_plugin_into_other_projects() -> None:
    assert "pytest11" not in _pyproject()["project"].get("entry-points", {})


def test_every_pip_shows_the_license() -> None:
    # pip before 25.0 shows only the `License` field, which core metadata 2.4 and later
    # leave out once `License-Expression` is there.
    pyproject = _pyproject()
    assert pyproject["project"]["license"] == "MIT"
    targets = pyproject["tool"]["hatch"]["build"]["targets"]
    assert targets["wheel"]["core-metadata-version"] == "2.3"
    assert targets["sdist"]["core-metadata-version"] == "2.3"
