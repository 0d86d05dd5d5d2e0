"""`openmux chat --profile` against a loopback fake provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openmux.cli import main
from openmux.testing import FakeProviderServer
from tests.helpers import provider_toml

PROVIDERS = {"alpha": dict(models=["m-1"], reply="Profiled answer.")}


@pytest.fixture
def configured(server: FakeProviderServer, clean_environment: Path) -> Path:
    text = provider_toml(*server.providers.values())
    (clean_environment / "openmux.toml").write_text(text, encoding="utf-8")
    return clean_environment


def test_profile_json_times_each_stage(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chat", "--json", "--profile", "Explain recursion briefly"]) == 0
    answer = json.loads(capsys.readouterr().out)
    profile = answer["profile"]
    assert set(profile) == {"classify", "select", "connect", "first_token", "total"}
    assert profile["classify"] >= 0 and profile["select"] >= 0
    assert profile["classify"] + profile["select"] <= profile["total"]
    assert 0 <= profile["connect"] <= profile["total"]  # request sent to response headers
    assert profile["first_token"] is None  # not streamed
    assert answer["response"] == "Profiled answer."


def test_profile_lines_on_stderr(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", "--profile", "--task", "chat", "Hello"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "Profiled answer."
    lines = captured.err.splitlines()
    assert lines[0].startswith("profile:")
    stages = [line.split()[0] for line in lines[2:7]]
    assert stages == ["classify", "select", "connect", "first", "total"]


def test_streaming_measures_the_first_token(server: FakeProviderServer, configured: Path) -> None:
    from openmux import ChatOpenMux

    merged = None
    for chunk in ChatOpenMux(task="chat").stream("Hello", profile=True):
        merged = chunk if merged is None else merged + chunk
    assert merged is not None
    stages = merged.response_metadata["openmux"]["timings"]
    assert stages["first_token"] is not None and stages["total"] is not None
    assert stages["first_token"] <= stages["total"]
