"""OpenMux: ask any AI question and get a good answer from free models.

Public names load lazily, so `import openmux` costs no provider SDK import.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from openmux.errors import (
    ConfigError,
    NoProviderAvailable,
    OpenMuxError,
    StreamInterrupted,
    UnsupportedTask,
)

if TYPE_CHECKING:
    from openmux.chat_models import ChatOpenMux
    from openmux.classifier import TaskClassification, TaskType, classify
    from openmux.embeddings import OpenMuxEmbeddings
    from openmux.orchestrator import Orchestrator
    from openmux.quotas import usage

__version__ = "0.3.0.dev0"

__all__ = [
    "ChatOpenMux",
    "ConfigError",
    "NoProviderAvailable",
    "OpenMuxEmbeddings",
    "OpenMuxError",
    "Orchestrator",
    "StreamInterrupted",
    "TaskClassification",
    "TaskType",
    "UnsupportedTask",
    "__version__",
    "classify",
    "generate_image",
    "speak",
    "transcribe",
    "usage",
]

_LAZY = {
    "ChatOpenMux": "openmux.chat_models",
    "OpenMuxEmbeddings": "openmux.embeddings",
    "Orchestrator": "openmux.orchestrator",
    "classify": "openmux.classifier",
    "TaskClassification": "openmux.classifier",
    "TaskType": "openmux.classifier",
    "generate_image": "openmux.media",
    "speak": "openmux.media",
    "transcribe": "openmux.media",
    "usage": "openmux.quotas",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'openmux' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
