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
    [commands] = readme_blocks(SECTION, "bash")
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
