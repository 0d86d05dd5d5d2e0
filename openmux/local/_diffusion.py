"""Offline images: a pulled SD-Turbo ONNX export (`openmux pull sd-turbo`) run by
onnxruntime in one denoising step, with the CLIP tokenizer and the scheduler in numpy.

SD-Turbo is distilled for a single step without classifier-free guidance: noise at the
highest sigma of the trailing Euler schedule, one UNet call predicting that noise, and
the VAE decoding the clean latents. The latents are 1/8 of the image's side; sides are
rounded up to a multiple of 64 for the UNet and the image is cropped back to the size asked.
"""

from __future__ import annotations

import json
import threading
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from openmux.providers import rgb_png

DEFAULT_SIZE = (512, 512)
CONTEXT = 77
LATENT_SCALE = 0.18215
TRAIN_STEPS = 1000
# The original pattern of CLIP's tokenizer: words, numbers and runs of other characters.
_CLIP_SPLIT = (
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
)
_ONNX_TYPES = {"tensor(float16)": np.float16, "tensor(float)": np.float32}

_lock = threading.Lock()


def _clip_tokenizer(folder: Path) -> Any:
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

    bpe = models.BPE.from_file(
        str(folder / "tokenizer/vocab.json"),
        str(folder / "tokenizer/merges.txt"),
        end_of_word_suffix="</w>",
        unk_token="<|endoftext|>",
    )
    tokenizer = Tokenizer(bpe)
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_CLIP_SPLIT), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    return tokenizer


def _pad_token(folder: Path, fallback: str) -> str:
    """SD 2.x pads with "!", SD 1.x with the end token: the export's map says which."""
    try:
        special = json.loads((folder / "tokenizer/special_tokens_map.json").read_text("utf-8"))
    except (OSError, ValueError):
        return fallback
    pad = special.get("pad_token", fallback)
    return str(pad.get("content", fallback) if isinstance(pad, dict) else pad)


def highest_sigma() -> float:
    """The noise level of timestep 999 under SD's scaled-linear beta schedule."""
    betas = np.linspace(0.00085**0.5, 0.012**0.5, TRAIN_STEPS, dtype=np.float64) ** 2
    alphas = np.cumprod(1.0 - betas)
    return float(np.sqrt((1 - alphas[-1]) / alphas[-1]))


class _Pipeline:
    def __init__(self, folder: Path) -> None:
        import onnxruntime

        def session(part: str) -> Any:
            path = str(folder / part / "model.onnx")
            return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])

        self.text_encoder = session("text_encoder")
        self.unet = session("unet")
        self.vae_decoder = session("vae_decoder")
        self.tokenizer = _clip_tokenizer(folder)
        vocab = self.tokenizer.get_vocab()
        self.start = vocab["<|startoftext|>"]
        self.end = vocab["<|endoftext|>"]
        self.pad = vocab.get(_pad_token(folder, "<|endoftext|>"), self.end)

    def _ids(self, prompt: str) -> np.ndarray:
        ids = self.tokenizer.encode(prompt).ids[: CONTEXT - 2]
        row = [self.start, *ids, self.end]
        row += [self.pad] * (CONTEXT - len(row))
        return np.array([row])

    def image(self, prompt: str, width: int, height: int, seed: int | None) -> np.ndarray:
        encoder_input = self.text_encoder.get_inputs()[0]
        ids = self._ids(prompt).astype(np.int32 if "int32" in encoder_input.type else np.int64)
        text = self.text_encoder.run(None, {encoder_input.name: ids})[0]
        inputs = {i.name: i for i in self.unet.get_inputs()}
        dtype = _ONNX_TYPES.get(inputs["sample"].type, np.float32)
        sigma = highest_sigma()
        noise = np.random.default_rng(seed).standard_normal((1, 4, height // 8, width // 8))
        latents = noise * sigma
        timestep = inputs["timestep"]
        step = np.array(TRAIN_STEPS - 1 if "int" in timestep.type else TRAIN_STEPS - 1.0)
        step = step.astype(_ONNX_TYPES.get(timestep.type, step.dtype)).reshape(
            [1] * len(timestep.shape)
        )
        predicted = self.unet.run(
            None,
            {
                "sample": (latents / np.sqrt(sigma**2 + 1)).astype(dtype),
                "timestep": step,
                "encoder_hidden_states": text.astype(dtype),
            },
        )[0]
        clean = latents - sigma * predicted.astype(np.float64)
        decoder_input = self.vae_decoder.get_inputs()[0]
        decoder_dtype = _ONNX_TYPES.get(decoder_input.type, np.float32)
        pixels = self.vae_decoder.run(
            None, {decoder_input.name: (clean / LATENT_SCALE).astype(decoder_dtype)}
        )[0]
        picture = np.clip(pixels[0].astype(np.float32) / 2 + 0.5, 0.0, 1.0)
        return (picture.transpose(1, 2, 0) * 255).round().astype(np.uint8)


@cache
def _pipeline(folder: str) -> _Pipeline:
    return _Pipeline(Path(folder))


def generate_png(
    folder: Path, prompt: str, size: tuple[int, int] | None = None, seed: int | None = None
) -> bytes:
    """A PNG of `prompt` at `size` (width, height; 512x512 by default)."""
    width, height = size or DEFAULT_SIZE
    padded_width, padded_height = (-(-side // 64) * 64 for side in (width, height))
    with _lock:
        picture = _pipeline(str(folder)).image(prompt, padded_width, padded_height, seed)
    top, left = (padded_height - height) // 2, (padded_width - width) // 2
    cropped = np.ascontiguousarray(picture[top : top + height, left : left + width])
    return rgb_png(cropped.tobytes(), width, height)
