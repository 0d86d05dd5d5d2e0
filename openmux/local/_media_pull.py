"""Local media models pulled on request: `openmux pull whisper-tiny`, `openmux pull sd-turbo`.

Each is a set of ONNX files from one Hugging Face repository at a pinned revision, run
by onnxruntime (a wheel on every platform, no compiler) with numpy around it. Nothing
is downloaded unasked; a model counts as pulled once every file of it arrived, which a
`pulled.json` written last in its folder records. The `local` provider offers it then,
and only then (offline, or with no key for a remote media provider).
"""

from __future__ import annotations

import importlib.util
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from openmux.config import LOCAL_IMAGE_MODEL_ID, LOCAL_TRANSCRIPTION_MODEL_ID
from openmux.local._pulled import hub_download, models_dir, recording

if TYPE_CHECKING:
    from openmux.config import MediaKind

DONE_MARKER = "pulled.json"


@dataclass(frozen=True)
class LocalMediaModel:
    name: str
    makes: MediaKind
    repo: str
    revision: str
    files: tuple[str, ...]
    extra: str
    """The optional dependency group holding its runtime."""
    size_mb: int
    """The download, for the user to know before pulling."""

    @property
    def install_hint(self) -> str:
        return f'pip install "openmux[{self.extra}]"'

    @property
    def pull_hint(self) -> str:
        return f"openmux pull {self.name}"


#: Whisper tiny (39M parameters, multilingual) as exported for ONNX Runtime by the
#: ONNX Community: https://huggingface.co/onnx-community/whisper-tiny (checked 2026-12-04).
WHISPER_TINY = LocalMediaModel(
    name=LOCAL_TRANSCRIPTION_MODEL_ID,
    makes="transcription",
    repo="onnx-community/whisper-tiny",
    revision="main",
    files=("onnx/encoder_model.onnx", "onnx/decoder_model.onnx", "tokenizer.json"),
    extra="transcribe-local",
    size_mb=153,
)
#: SD-Turbo (Stable Diffusion 2.1 distilled to one step), ONNX float16 export:
#: https://huggingface.co/jdp8/sd-turbo-onnx (checked 2026-12-04). Non-commercial
#: licence (Stability AI Community); text encoder, UNet and VAE decoder.
SD_TURBO = LocalMediaModel(
    name=LOCAL_IMAGE_MODEL_ID,
    makes="image",
    repo="jdp8/sd-turbo-onnx",
    revision="4ea5d203f7def52bcf83781990f97721c98a7f22",
    files=(
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "tokenizer/special_tokens_map.json",
        "text_encoder/model.onnx",
        "unet/model.onnx",
        "vae_decoder/model.onnx",
    ),
    extra="image-local",
    size_mb=2520,
)
LOCAL_MEDIA_MODELS: dict[str, LocalMediaModel] = {m.name: m for m in (WHISPER_TINY, SD_TURBO)}


def media_runtime_available() -> bool:
    """onnxruntime is installed (looked up, not imported)."""
    return importlib.util.find_spec("onnxruntime") is not None


def pulled_media_folder(name: str) -> Path | None:
    """The folder of a completely pulled local media model, or None."""
    folder = models_dir() / name
    return folder if (folder / DONE_MARKER).is_file() else None


def media_model_missing(name: str) -> str | None:
    """What to run before `name` can answer here (None: ready)."""
    model = LOCAL_MEDIA_MODELS[name]
    steps = []
    if not media_runtime_available():
        steps.append(model.install_hint)
    if pulled_media_folder(name) is None:
        steps.append(f"{model.pull_hint} (a {model.size_mb} MB download)")
    if not steps:
        return None
    what = "images" if model.makes == "image" else model.makes
    return f"local: {' && '.join(steps)} for offline {what}"


def pull_media(name: str, *, endpoint: str | None = None, token: str | None = None) -> Path:
    """Download every file of a local media model and mark it pulled; its folder."""
    model = LOCAL_MEDIA_MODELS[name]
    folder = models_dir() / name
    (folder / DONE_MARKER).unlink(missing_ok=True)
    for filename in model.files:
        hub_download(
            model.repo,
            filename,
            folder,
            what=name,
            revision=model.revision,
            endpoint=endpoint,
            token=token,
            extra=model.extra,
        )
    record = {"repo": model.repo, "revision": model.revision, "pulled_at": time.time()}
    with recording(name, folder):
        (folder / DONE_MARKER).write_text(json.dumps(record), encoding="utf-8")
    return folder


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
