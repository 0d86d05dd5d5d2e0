"""`openmux pull` against a loopback stand-in for the Hugging Face Hub."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from openmux import ConfigError, OpenMuxError
from openmux.local._pulled import parse_spec, pull, pulled_models
from openmux.testing import FakeHub
from tests.helpers import run_cli

pytest.importorskip("huggingface_hub")

GGUF = b"GGUF" + b"\x03\x00\x00\x00" + bytes(2048)


@pytest.fixture(autouse=True)
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("OPENMUX_MODELS_DIR", str(folder))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    return folder


def test_pull_downloads_and_registers() -> None:
    with FakeHub() as hub:
        hub.add("someone/tiny-GGUF", "tiny-Q4_K_M.gguf", GGUF)
        model = pull("someone/tiny-GGUF/tiny-Q4_K_M.gguf", endpoint=hub.url)
    assert Path(model.path).read_bytes() == GGUF
    assert model.id == "someone/tiny-GGUF/tiny-Q4_K_M.gguf" and model.size == len(GGUF)
    assert [m.id for m in pulled_models()] == [model.id]


def test_cli_pull_with_hf_endpoint(models_dir: Path) -> None:
    with FakeHub() as hub:
        hub.add("someone/tiny-GGUF", "tiny.gguf", GGUF)
        result = run_cli(
            "pull", "someone/tiny-GGUF/tiny.gguf", env={**os.environ, "HF_ENDPOINT": hub.url}
        )
    assert result.returncode == 0, result.stderr
    assert "pulled someone/tiny-GGUF/tiny.gguf" in result.stdout
    assert "local:someone/tiny-GGUF/tiny.gguf" in result.stdout


def test_missing_file_and_bad_spec_are_explained() -> None:
    with FakeHub() as hub, pytest.raises(OpenMuxError, match="HTTP 404"):
        pull("someone/nothing-GGUF/none.gguf", endpoint=hub.url)
    with pytest.raises(ConfigError, match=r"OWNER/REPO/FILE\.gguf"):
        parse_spec("just-a-name")
    assert pulled_models() == []


def test_a_file_that_is_not_gguf_is_refused() -> None:
    with FakeHub() as hub:
        hub.add("someone/fake-GGUF", "fake.gguf", b"<html>not a model</html>")
        with pytest.raises(OpenMuxError, match="not a GGUF"):
            pull("someone/fake-GGUF/fake.gguf", endpoint=hub.url)
    assert pulled_models() == []


def test_a_download_cut_midway_is_one_line_and_keeps_nothing(models_dir: Path) -> None:
    with FakeHub() as hub:
        hub.add("someone/cut-GGUF", "cut.gguf", GGUF, cut_after=len(GGUF) // 2)
        result = run_cli(
            "pull", "someone/cut-GGUF/cut.gguf", env={**os.environ, "HF_ENDPOINT": hub.url}
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("openmux pull:")]
    assert "someone/cut-GGUF/cut.gguf" in line and "try again" in line
    assert not list(models_dir.rglob("cut.gguf")) and pulled_models() == []


def test_a_registry_that_cannot_be_written_is_one_line(models_dir: Path) -> None:
    """As on a disk the download just filled: the model is there, not recorded."""
    (models_dir / "registry.json").mkdir(parents=True)
    with FakeHub() as hub:
        hub.add("someone/tiny-GGUF", "tiny.gguf", GGUF)
        result = run_cli(
            "pull", "someone/tiny-GGUF/tiny.gguf", env={**os.environ, "HF_ENDPOINT": hub.url}
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("openmux pull: could not pull someone/tiny-GGUF/tiny.gguf")
    assert "registry.json" in line


def test_models_local_lists_bundled_and_pulled_models(models_dir: Path) -> None:
    import json

    from openmux.local import BUNDLED_CHAT_MODEL_ID, chat_runtime_available, local_chat_available

    if not chat_runtime_available():
        pytest.skip('the local extra is not installed (pip install ".[local]")')
    with FakeHub() as hub:
        hub.add("someone/tiny-GGUF", "tiny.gguf", GGUF)
        pull("someone/tiny-GGUF/tiny.gguf", endpoint=hub.url)
    result = run_cli("models", "--local", "--json")
    assert result.returncode == 0, result.stderr
    listed = {(row["provider"], row["model"]) for row in json.loads(result.stdout)}
    assert ("local", "someone/tiny-GGUF/tiny.gguf") in listed
    if local_chat_available():
        assert ("local", BUNDLED_CHAT_MODEL_ID) in listed
    assert all(provider in ("local", "ollama", "lmstudio", "llamacpp") for provider, _ in listed)


def test_cli_pull_explains_a_bad_repo_id_and_endpoint_in_one_line() -> None:
    for args, words in (
        (("../../etc/passwd.gguf",), ("../..",)),
        (("someone/tiny-GGUF/tiny.gguf", "--endpoint", "not-a-url"), ("not-a-url", "http")),
    ):
        result = run_cli("pull", *args, timeout=120)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        for word in words:
            assert word in result.stderr, result.stderr
    assert pulled_models() == []
