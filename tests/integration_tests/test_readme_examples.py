"""The README's LlamaIndex and quality examples run as written, against loopback fakes."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from openmux.cli import main
from openmux.testing import FakeProviderServer
from tests.bench_oracle import oracle
from tests.helpers import provider_toml, readme_blocks

PROVIDERS = {"fake": dict(models=["chat-1"], embedding_models=["embed-1"], reply=oracle)}


@pytest.fixture
def configured(server: FakeProviderServer, clean_environment: Path) -> Path:
    text = provider_toml(*server.providers.values())
    (clean_environment / "openmux.toml").write_text(text, encoding="utf-8")
    return clean_environment


def test_llama_index_example(configured: Path) -> None:
    pytest.importorskip("llama_index.core", reason='needs: pip install "openmux[llama-index]"')
    [example] = readme_blocks("LlamaIndex", "python")
    script = configured / "example.py"
    script.write_text(example, encoding="utf-8")
    root = str(Path(__file__).resolve().parents[2])
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=configured,
        env={**os.environ, "PYTHONPATH": root},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "Happy to help."  # the fake's answer to the query engine's prompt
    assert len(lines) == 2 and lines[1]  # the agent's answer after its tool call


def test_quality_cli_example(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    [commands] = readme_blocks("Quality bench and votes", "bash")
    for line in commands.splitlines():
        command = shlex.split(line.split("#")[0])
        assert command[0] == "openmux"
        assert main(command[1:]) == 0, line
    out = capsys.readouterr().out
    assert "fake:chat-1" in out and "Voted down fake:chat-1 for chat" in out
    assert (configured / "bench.svg").exists()


def test_quality_python_example(configured: Path) -> None:
    [example] = readme_blocks("Quality bench and votes", "python")
    exec(compile(example, "README.md", "exec"), {})


def test_embeddings_example(
    server: FakeProviderServer,
    clean_environment: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Two providers serve embeddings: the configuration chooses the first one's model,
    # the pin the second one's.
    mistral = server.add_provider("mistral", embedding_models=["mistral-embed"])
    monkeypatch.setenv("MISTRAL_API_KEY", "mistral-readme-example-000")
    text = provider_toml(server.providers["fake"], mistral)
    (clean_environment / "openmux.toml").write_text(text, encoding="utf-8")
    [example] = readme_blocks("Embeddings", "python")
    exec(compile(example, "README.md", "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["embed-1", "mistral-embed 2"]
    assert mistral.hits == 1 and server.providers["fake"].hits == 0
