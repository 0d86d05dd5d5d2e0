"""Tables and messages print provider and user strings verbatim: brackets are not markup."""

from __future__ import annotations

import os
from pathlib import Path

from tests.helpers import run_cli

# rich reads `[local]` as a style tag and drops it: `pip install "openmux[local]"` once
# printed as `pip install "openmux"`, which installs an unrelated package of that name.
CONFIG = """
[router]
providers = ["myproxy"]

[providers.myproxy]
protocol = "openai"
base_url = "http://127.0.0.1:9/v1"
free = true
models = ["tuned[local]"]
"""


def test_models_and_config_show_keep_brackets(clean_environment: Path) -> None:
    (clean_environment / "openmux.toml").write_text(CONFIG, encoding="utf-8")
    wide = {**os.environ, "COLUMNS": "200"}  # table cells on one line
    listing = run_cli("models", "--all", env=wide)
    assert "myproxy:tuned[local]" in listing.stdout, listing.stdout + listing.stderr
    shown = run_cli("config", "show", env=wide)
    assert "tuned[local]" in shown.stdout, shown.stdout + shown.stderr
