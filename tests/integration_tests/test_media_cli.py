"""`openmux image` and `openmux speak` saving what they made: the format a provider sent
decides the file's suffix, and nothing the user already had is overwritten for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from openmux.cli import main
from openmux.testing import FakeProviderServer

PROVIDERS = {"cf": dict(models=["@cf/meta/llama-3.1-8b-instruct"])}


@pytest.fixture
def cloudflare(
    server: FakeProviderServer, clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Cloudflare's media models: flux-1-schnell draws JPEGs, MeloTTS speaks MP3."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "cf-token")
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "acct-7")
    base_url = server.providers["cf"].cloudflare_base_url("{account_id}")
    (clean_environment / "openmux.toml").write_text(
        '[router]\nproviders = ["cloudflare"]\n\n'
        f'[providers.cloudflare]\nbase_url = "{base_url}"\n',
        encoding="utf-8",
    )
    return clean_environment


def test_a_jpeg_asked_for_as_png_is_saved_as_jpg(
    cloudflare: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (cloudflare / "fox.jpg").write_bytes(b"the user's own")
    assert main(["image", "a red fox", "-o", "fox.png"]) == 0
    err = capsys.readouterr().err
    assert not (cloudflare / "fox.png").exists()  # a viewer would refuse a JPEG named .png
    assert (cloudflare / "fox.jpg").read_bytes() == b"the user's own"
    assert (cloudflare / "fox-1.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    assert "JPG, not PNG" in err and "fox-1.jpg" in err
    assert main(["image", "a red fox", "-o", "fox.jpeg"]) == 0  # the same format's other name
    assert (cloudflare / "fox.jpeg").read_bytes()[:3] == b"\xff\xd8\xff"


def test_mp3_speech_asked_for_as_wav_is_saved_as_mp3(
    cloudflare: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["speak", "hello there", "-o", "hello.wav", "--json"]) == 0
    out, err = capsys.readouterr()
    assert not (cloudflare / "hello.wav").exists()
    assert (cloudflare / "hello.mp3").is_file()
    assert '"path": "hello.mp3"' in out and "MP3, not WAV" in err
    # --format is how a name of another format is asked for: kept as given.
    assert main(["speak", "hello there", "-o", "memo.ogg", "--format", "mp3"]) == 0
    assert (cloudflare / "memo.ogg").is_file() and not (cloudflare / "memo.mp3").exists()
    # A format no model here makes is refused, never answered in another one.
    capsys.readouterr()
    assert main(["speak", "hello there", "-o", "memo.wav", "--format", "wav"]) == 1
    assert "makes wav; they make mp3" in capsys.readouterr().err
    assert not (cloudflare / "memo.wav").exists()


def test_dash_writes_the_media_to_stdout(
    cloudflare: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main(["image", "a red fox", "-o", "-"]) == 0
    out, err = capsysbinary.readouterr()
    assert out[:3] == b"\xff\xd8\xff" and b"image/jpeg" in err
    assert not (cloudflare / "-").exists()
    assert main(["speak", "hello", "-o", "-", "--json"]) == 2  # both would be on stdout
    assert b"--json" in capsysbinary.readouterr().err
