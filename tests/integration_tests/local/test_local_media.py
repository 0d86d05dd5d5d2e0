"""Offline transcription and images: `openmux pull` from a loopback hub, then the real
onnxruntime pipelines on small ONNX graphs with the real exports' inputs and outputs
(`tests.local_media_models`)."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("huggingface_hub")
pytest.importorskip("onnx")
from PIL import Image

from openmux import UnsupportedTask, generate_image, transcribe
from openmux.local._media_pull import SD_TURBO, WHISPER_TINY, media_model_missing, pull_media
from openmux.local._whisper import SAMPLE_RATE, log_mel, mel_filters, read_wav
from openmux.testing import FakeHub
from openmux.testing._media import mp3, wav
from tests.helpers import run_cli
from tests.local_media_models import (
    WHISPER_TRANSCRIPT,
    diffusion_files,
    serve,
    whisper_files,
)


@pytest.fixture(autouse=True)
def models_dir(clean_environment: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("OPENMUX_MODELS_DIR", str(folder))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    return folder


# -- before a pull ---------------------------------------------------------------------------


def test_without_a_pull_the_error_names_the_command_to_run() -> None:
    assert "openmux pull whisper-tiny" in (media_model_missing(WHISPER_TINY.name) or "")
    with pytest.raises(UnsupportedTask, match="openmux pull whisper-tiny"):
        transcribe(wav(0.5, SAMPLE_RATE), offline=True)
    with pytest.raises(UnsupportedTask, match="openmux pull sd-turbo"):
        generate_image("a red square", offline=True)


def test_without_the_runtime_the_hint_installs_it_first(monkeypatch: pytest.MonkeyPatch) -> None:
    import openmux.local._media_pull as media_pull

    monkeypatch.setattr(media_pull, "media_runtime_available", lambda: False)
    assert media_model_missing(SD_TURBO.name) == (
        'local: pip install "openmux[image-local]" && openmux pull sd-turbo '
        f"(a {SD_TURBO.size_mb} MB download) for offline images"
    )


# -- transcription -----------------------------------------------------------------------------


def test_pulled_whisper_transcribes_offline_with_no_key() -> None:
    with FakeHub() as hub:
        serve(hub, WHISPER_TINY, whisper_files())
        pull_media(WHISPER_TINY.name, endpoint=hub.url)
    assert media_model_missing(WHISPER_TINY.name) is None
    # 44.1 kHz stereo-free WAV: read, resampled to 16 kHz, encoded, decoded greedily.
    text = transcribe(wav(1.5, 44_100), offline=True)
    assert text.text == WHISPER_TRANSCRIPT
    assert text.metadata["provider"] == "local" and text.metadata["model"] == "whisper-tiny"
    assert text.metadata["offline"] is True


def test_offline_transcription_of_a_non_wav_says_how_to_convert_it() -> None:
    from openmux import NoProviderAvailable

    with FakeHub() as hub:
        serve(hub, WHISPER_TINY, whisper_files())
        pull_media(WHISPER_TINY.name, endpoint=hub.url)
    with pytest.raises(NoProviderAvailable, match="WAV recordings only"):
        transcribe(mp3(1.0), offline=True)


def test_a_recording_cut_off_mid_sample_is_transcribed_as_far_as_it_goes() -> None:
    with FakeHub() as hub:
        serve(hub, WHISPER_TINY, whisper_files())
        pull_media(WHISPER_TINY.name, endpoint=hub.url)
    mono = wav(1.0, SAMPLE_RATE)
    stereo = io.BytesIO()
    with wave.open(stereo, "wb") as sound:
        sound.setnchannels(2)
        sound.setsampwidth(2)
        sound.setframerate(SAMPLE_RATE)
        sound.writeframes(bytes(4 * SAMPLE_RATE))
    # A copy cut short: the header still claims every frame, the last one is half there.
    for cut in (mono[:-1], stereo.getvalue()[:-2]):
        assert transcribe(cut, offline=True).text == WHISPER_TRANSCRIPT
    assert len(read_wav(stereo.getvalue()[:-2])) == SAMPLE_RATE - 1


def test_whisper_features_put_a_tone_in_its_mel_band() -> None:
    samples = read_wav(wav(1.0, 22_050, pitch_hz=1000.0))
    assert abs(len(samples) - SAMPLE_RATE) <= 1
    features = log_mel(samples, 80)
    assert features.shape == (80, 3000) and features.dtype == np.float32
    assert features.max() <= 1.5 and features.min() >= features.max() - 2.0 - 1e-6
    filters = mel_filters(80)
    strongest = int(np.argmax(features[:, 10:90].mean(axis=1)))
    bins = np.fft.rfftfreq(400, 1 / SAMPLE_RATE)
    assert bins[np.argmax(filters[strongest])] == pytest.approx(1000.0, abs=120.0)


# -- images ------------------------------------------------------------------------------------


def test_pulled_sd_turbo_draws_offline_at_the_requested_size() -> None:
    with FakeHub() as hub:
        serve(hub, SD_TURBO, diffusion_files())
        pull_media(SD_TURBO.name, endpoint=hub.url)
    image = generate_image("a red square", size="96x40", offline=True)
    assert image.mime_type == "image/png"
    with Image.open(io.BytesIO(image.data)) as opened:
        assert (opened.format, opened.size, opened.mode) == ("PNG", (96, 40), "RGB")
        low, high = opened.convert("L").getextrema()
        assert high - low > 10  # real pixels, not one flat colour
    assert image.metadata["provider"] == "local" and image.metadata["model"] == "sd-turbo"


# -- the command -------------------------------------------------------------------------------


def test_cli_pull_of_a_local_media_model(models_dir: Path) -> None:
    import os

    with FakeHub() as hub:
        serve(hub, WHISPER_TINY, whisper_files())
        result = run_cli("pull", "whisper-tiny", env={**os.environ, "HF_ENDPOINT": hub.url})
        missing_file = run_cli("pull", "sd-turbo", env={**os.environ, "HF_ENDPOINT": hub.url})
    assert result.returncode == 0, result.stderr
    assert "pulled whisper-tiny" in result.stdout and "openmux transcribe" in result.stdout
    assert (models_dir / "whisper-tiny" / "onnx" / "decoder_model.onnx").is_file()
    assert missing_file.returncode == 1
    assert missing_file.stderr.startswith("openmux pull: could not pull sd-turbo: ")
    assert "HTTP 404" in missing_file.stderr and "Traceback" not in missing_file.stderr
    assert media_model_missing(SD_TURBO.name) is not None
