"""The container files and the README's shared-state example say what they should.

No container runtime runs in CI: these check the files parse and wire openmux serve to
Valkey, not that the images build.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from openmux.config import load_settings
from tests.helpers import readme_blocks

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_replicas_of_openmux_serve_with_valkey_for_state() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    openmux, valkey = compose["services"]["openmux"], compose["services"]["valkey"]
    assert openmux["build"] == "."
    assert "replicas" in openmux["deploy"]
    environment = openmux["environment"]
    assert environment["OPENMUX_STATE_URL"] == "redis://valkey:6379/0"
    assert environment["OPENMUX_SERVER_KEYS"].startswith("${OPENMUX_SERVER_KEYS:?")
    assert "valkey" in openmux["depends_on"]
    assert valkey["image"].startswith("valkey/valkey:")
    assert set(compose["volumes"]) == {"state", "valkey"}


def test_the_image_serves_on_all_interfaces_with_the_redis_client() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert '".[server,redis]"' in dockerfile
    assert "OPENMUX_STATE_DIR=/state" in dockerfile
    assert '"serve", "--host", "0.0.0.0"' in dockerfile


def test_the_readme_state_example_is_a_valid_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [example] = readme_blocks("Running several processes or hosts", "toml")
    config = tmp_path / "openmux.toml"
    config.write_text(example, encoding="utf-8")
    monkeypatch.setenv("OPENMUX_CONFIG", str(config))
    assert load_settings().state_url == "redis://valkey.internal:6379/0"
