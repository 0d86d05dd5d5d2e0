"""The README's media examples run as written, against the loopback fake."""

from __future__ import annotations

import io
import shlex
import wave
from pathlib import Path

import pytest
from PIL import Image

from openmux.cli import main
from openmux.testing import FakeProviderServer
from openmux.testing._media import mp3
from tests.helpers import readme_blocks

PROVIDERS = {"fake": dict(models=["chat-1"])}
SECTION = "Images, speech and transcription"


@pytest.fixture
def configured(server: FakeProviderServer, clean_environment: Path) -> Path:
    fake = server.providers["fake"]
    fake.transcript = "Remember to buy milk."
    (clean_environment / "openmux.toml").write_text(
        '[router]\nproviders = ["fake"]\n\n[providers.fake]\n'
        f'protocol = "openai"\nbase_url = "{fake.base_url}"\nfree = true\n'
        'models = ["chat-1"]\nimage_models = ["image-1"]\nspeech_models = ["tts-1"]\n'
        'transcription_models = ["whisper-1"]\n',
        encoding="utf-8",
    )
    (clean_environment / "memo.mp3").write_bytes(mp3(2.0))
    return clean_environment


def _check_outputs(folder: Path) -> None:
    with Image.open(folder / "lighthouse.png") as image:
        assert image.size == (512, 512)
    with wave.open(io.BytesIO((folder / "hello.wav").read_bytes())) as sound:
        assert sound.getnframes() / sound.getframerate() > 0.5


def test_cli_examples(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commands, _offline = readme_blocks(SECTION, "bash")
    for line in commands.splitlines():
        command = shlex.split(line)
        assert command[0] == "openmux"
        assert main(command[1:]) == 0, line
    assert capsys.readouterr().out.strip() == "Remember to buy milk."
    _check_outputs(configured)


def test_python_example(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    [example] = readme_blocks(SECTION, "python")
    exec(compile(example, "README.md", "exec"), {})
    assert capsys.readouterr().out.strip() == "Remember to buy milk."
    _check_outputs(configured)


def test_offline_cli_example(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No key, no config: the pull comes from a loopback hub, the model is a small graph
    with Whisper tiny's inputs and outputs (`tests.local_media_models`)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from openmux.local._media_pull import WHISPER_TINY
    from openmux.testing import FakeHub
    from openmux.testing._media import wav
    from tests.local_media_models import WHISPER_TRANSCRIPT, serve, whisper_files

    _online, offline = readme_blocks(SECTION, "bash")
    install, pull = offline.splitlines()[0].split(" && ")
    assert install.startswith("pip install") and '"openmux[transcribe-local]"' in install
    monkeypatch.setenv("OPENMUX_MODELS_DIR", str(clean_environment / "models"))
    (clean_environment / "memo.wav").write_bytes(wav(1.0))
    with FakeHub() as hub:
        serve(hub, WHISPER_TINY, whisper_files())
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        for line in [pull, *offline.splitlines()[1:]]:
            command = shlex.split(line)
            assert command[0] == "openmux"
            assert main(command[1:]) == 0, line
    assert capsys.readouterr().out.strip().splitlines()[-1] == WHISPER_TRANSCRIPT
