"""Offline transcription and images: `openmux pull` from a loopback hub, then the real
onnxruntime pipelines on small ONNX graphs with the real exports' inputs and outputs.

The graphs are built here with the `onnx` package (the hub is out of reach in tests):
the Whisper decoder's logits follow a fixed script, so the transcript is known, and the
SD-Turbo parts are small convolutions, so the image is real pixels of a known size.
"""

from __future__ import annotations

import io
import json
import math
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("huggingface_hub")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from PIL import Image  # noqa: E402

from openmux import UnsupportedTask, generate_image, transcribe  # noqa: E402
from openmux.local._media_pull import SD_TURBO, WHISPER_TINY, missing, pull_media  # noqa: E402
from openmux.local._whisper import SAMPLE_RATE, log_mel, mel_filters, read_wav  # noqa: E402
from openmux.testing import FakeHub  # noqa: E402
from tests.helpers import run_cli  # noqa: E402

WHISPER_WORDS = ["hello", "world"]
WHISPER_SPECIALS = [
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|en|>",
    "<|fr|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|notimestamps|>",
]


@pytest.fixture(autouse=True)
def models_dir(clean_environment: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("OPENMUX_MODELS_DIR", str(folder))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    return folder


def _model_bytes(nodes: list, inputs: list, outputs: list, initializers: list) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


# -- Whisper: encoder (input_features -> last_hidden_state), decoder (ids, states -> logits) --


def _whisper_tokenizer() -> bytes:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {token: index for index, token in enumerate(WHISPER_WORDS + WHISPER_SPECIALS)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.add_special_tokens(WHISPER_SPECIALS)
    return tokenizer.to_str().encode()


def _whisper_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    state = 16
    encoder = _model_bytes(
        [
            helper.make_node("Conv", ["input_features", "w"], ["conv"], strides=[2], pads=[1, 1]),
            helper.make_node("Transpose", ["conv"], ["last_hidden_state"], perm=[0, 2, 1]),
        ],
        [helper.make_tensor_value_info("input_features", TensorProto.FLOAT, ["batch", 80, 3000])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["b", "t", "d"])],
        [numpy_helper.from_array(rng.standard_normal((state, 80, 3)).astype(np.float32), "w")],
    )
    vocab = len(WHISPER_WORDS) + len(WHISPER_SPECIALS)
    index = {token: i for i, token in enumerate(WHISPER_WORDS + WHISPER_SPECIALS)}
    # Row p: the logits after p + 1 tokens. After <|startoftranscript|> the likeliest
    # language is English; after the 4-token prompt the words, then the end.
    script = np.full((16, vocab), -5.0, dtype=np.float32)
    script[:, index["<|endoftext|>"]] = 1.0
    script[0, index["<|en|>"]] = 5.0
    script[3, index["hello"]] = 5.0
    script[4, index["world"]] = 5.0
    # The Gather that drives the script is what makes it a decoder: one row per position.
    decoder = _model_bytes(
        [
            helper.make_node("Shape", ["input_ids"], ["shape"]),
            helper.make_node("Gather", ["shape", "one"], ["length"]),
            helper.make_node("Range", ["zero", "length", "one"], ["positions"]),
            helper.make_node("Gather", ["script", "positions"], ["rows"]),
            helper.make_node("Unsqueeze", ["rows", "axis0"], ["scripted"]),
            helper.make_node("ReduceMean", ["encoder_hidden_states"], ["heard"], keepdims=1),
            helper.make_node("Mul", ["heard", "tiny"], ["nudge"]),
            helper.make_node("Add", ["scripted", "nudge"], ["logits"]),
        ],
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info(
                "encoder_hidden_states", TensorProto.FLOAT, ["batch", 1500, state]
            ),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", "s", "v"])],
        [
            numpy_helper.from_array(script, "script"),
            numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
            numpy_helper.from_array(np.array(1, dtype=np.int64), "one"),
            numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"),
            numpy_helper.from_array(np.array(1e-6, dtype=np.float32), "tiny"),
        ],
    )
    return {
        "onnx/encoder_model.onnx": encoder,
        "onnx/decoder_model.onnx": decoder,
        "tokenizer.json": _whisper_tokenizer(),
    }


# -- SD-Turbo: text encoder, UNet and VAE decoder, float16 like the pulled export -----------


def _clip_tokenizer_files() -> dict[str, bytes]:
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens = ["!", "<|startoftext|>", "<|endoftext|>", *letters, *(c + "</w>" for c in letters)]
    return {
        "tokenizer/vocab.json": json.dumps({t: i for i, t in enumerate(tokens)}).encode(),
        "tokenizer/merges.txt": b"#version: 0.2\n",
        "tokenizer/special_tokens_map.json": json.dumps({"pad_token": "!"}).encode(),
    }


def _float16_input(name: str, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT16, shape)


def _diffusion_files() -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    width = 8
    vocab = len(json.loads(_clip_tokenizer_files()["tokenizer/vocab.json"]))
    text_encoder = _model_bytes(
        [helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"])],
        [helper.make_tensor_value_info("input_ids", TensorProto.INT32, ["batch", 77])],
        [_float16_input("last_hidden_state", ["b", 77, "d"])],
        [numpy_helper.from_array(rng.standard_normal((vocab, width)).astype(np.float16), "table")],
    )
    unet = _model_bytes(
        [
            helper.make_node("Cast", ["sample"], ["sample32"], to=TensorProto.FLOAT),
            helper.make_node("Cast", ["encoder_hidden_states"], ["text32"], to=TensorProto.FLOAT),
            helper.make_node("Cast", ["timestep"], ["time32"], to=TensorProto.FLOAT),
            helper.make_node("Conv", ["sample32", "w"], ["mixed"]),
            helper.make_node("ReduceMean", ["text32"], ["prompt"], keepdims=1),
            helper.make_node("Mul", ["time32", "per_step"], ["when"]),
            helper.make_node("Add", ["mixed", "prompt"], ["guided"]),
            helper.make_node("Add", ["guided", "when"], ["noise"]),
            helper.make_node("Cast", ["noise"], ["out_sample"], to=TensorProto.FLOAT16),
        ],
        [
            _float16_input("sample", ["batch", 4, "h", "w"]),
            helper.make_tensor_value_info("timestep", TensorProto.INT64, [1]),
            _float16_input("encoder_hidden_states", ["batch", 77, width]),
        ],
        [_float16_input("out_sample", ["b", 4, "h", "w"])],
        [
            numpy_helper.from_array(
                (np.eye(4) + 0.1 * rng.standard_normal((4, 4))).astype(np.float32)[..., None, None],
                "w",
            ),
            numpy_helper.from_array(np.array([1e-4], dtype=np.float32), "per_step"),
        ],
    )
    vae_decoder = _model_bytes(
        [
            helper.make_node("Cast", ["latent_sample"], ["latent32"], to=TensorProto.FLOAT),
            helper.make_node("Resize", ["latent32", "", "scales"], ["big"], mode="linear"),
            helper.make_node("Conv", ["big", "w"], ["rgb"]),
            helper.make_node("Tanh", ["rgb"], ["squashed"]),
            helper.make_node("Cast", ["squashed"], ["sample"], to=TensorProto.FLOAT16),
        ],
        [_float16_input("latent_sample", ["batch", 4, "h", "w"])],
        [_float16_input("sample", ["b", 3, "H", "W"])],
        [
            numpy_helper.from_array(np.array([1, 1, 8, 8], dtype=np.float32), "scales"),
            numpy_helper.from_array(
                rng.standard_normal((3, 4, 1, 1)).astype(np.float32) * 0.5, "w"
            ),
        ],
    )
    return {
        **_clip_tokenizer_files(),
        "text_encoder/model.onnx": text_encoder,
        "unet/model.onnx": unet,
        "vae_decoder/model.onnx": vae_decoder,
    }


def _wav(seconds: float, rate: int, pitch_hz: float = 440.0) -> bytes:
    count = int(seconds * rate)
    samples = struct.pack(
        f"<{count}h",
        *(int(9000 * math.sin(2 * math.pi * pitch_hz * i / rate)) for i in range(count)),
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(rate)
        sound.writeframes(samples)
    return out.getvalue()


def _serve(hub: FakeHub, repo: str, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        hub.add(repo, name, data)


# -- before a pull ---------------------------------------------------------------------------


def test_without_a_pull_the_error_names_the_command_to_run() -> None:
    assert "openmux pull whisper-tiny" in (missing(WHISPER_TINY.name) or "")
    with pytest.raises(UnsupportedTask, match="openmux pull whisper-tiny"):
        transcribe(_wav(0.5, SAMPLE_RATE), offline=True)
    with pytest.raises(UnsupportedTask, match="openmux pull sd-turbo"):
        generate_image("a red square", offline=True)


# -- transcription -----------------------------------------------------------------------------


def test_pulled_whisper_transcribes_offline_with_no_key() -> None:
    with FakeHub() as hub:
        _serve(hub, WHISPER_TINY.repo, _whisper_files())
        pull_media(WHISPER_TINY.name, endpoint=hub.url)
    assert missing(WHISPER_TINY.name) is None
    # 44.1 kHz stereo-free WAV: read, resampled to 16 kHz, encoded, decoded greedily.
    text = transcribe(_wav(1.5, 44_100), offline=True)
    assert text.text == "hello world"
    assert text.metadata["provider"] == "local" and text.metadata["model"] == "whisper-tiny"
    assert text.metadata["offline"] is True


def test_offline_transcription_of_a_non_wav_says_how_to_convert_it() -> None:
    from openmux import NoProviderAvailable
    from openmux.testing._media import mp3

    with FakeHub() as hub:
        _serve(hub, WHISPER_TINY.repo, _whisper_files())
        pull_media(WHISPER_TINY.name, endpoint=hub.url)
    with pytest.raises(NoProviderAvailable, match="WAV recordings only"):
        transcribe(mp3(1.0), offline=True)


def test_whisper_features_put_a_tone_in_its_mel_band() -> None:
    samples = read_wav(_wav(1.0, 22_050, pitch_hz=1000.0))
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
        _serve(hub, SD_TURBO.repo, _diffusion_files())
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
        _serve(hub, WHISPER_TINY.repo, _whisper_files())
        result = run_cli("pull", "whisper-tiny", env={**os.environ, "HF_ENDPOINT": hub.url})
        missing_file = run_cli("pull", "sd-turbo", env={**os.environ, "HF_ENDPOINT": hub.url})
    assert result.returncode == 0, result.stderr
    assert "pulled whisper-tiny" in result.stdout and "openmux transcribe" in result.stdout
    assert (models_dir / "whisper-tiny" / "onnx" / "decoder_model.onnx").is_file()
    assert missing_file.returncode == 1
    assert missing_file.stderr.startswith("openmux pull: could not pull sd-turbo: ")
    assert "HTTP 404" in missing_file.stderr and "Traceback" not in missing_file.stderr
    assert missing(SD_TURBO.name) is not None
