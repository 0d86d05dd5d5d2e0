"""`import openmux` and `openmux --help` load no provider SDK and no server library."""

from __future__ import annotations

import subprocess
import sys

import openmux

_HEAVY = (
    "langchain_openai",
    "langchain_ollama",
    "openai",
    "ollama",
    "httpx",
    "langchain_core.language_models",
    "starlette",
    "uvicorn",
    "prometheus_client",
)


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(output.split())


def test_import_openmux_is_light() -> None:
    loaded = _loaded_after("import openmux")
    assert not loaded & set(_HEAVY)


def test_cli_help_is_light() -> None:
    for args in (["--help"], ["serve", "--help"]):
        call = f"main({args!r})"
        code = f"from openmux.cli import main\ntry:\n    {call}\nexcept SystemExit:\n    pass"
        loaded = _loaded_after(code)
        assert not loaded & set(_HEAVY)
    assert not _loaded_after("import openmux.server") & set(_HEAVY)


def test_public_names() -> None:
    expected = {
        "ChatOpenMux",
        "OpenMuxEmbeddings",
        "Orchestrator",
        "classify",
        "TaskClassification",
        "TaskType",
        "OpenMuxError",
        "NoProviderAvailable",
        "UnsupportedTask",
        "StreamInterrupted",
        "ConfigError",
    }
    assert expected <= set(openmux.__all__)
    for name in expected:
        assert getattr(openmux, name) is not None
    for error in ("NoProviderAvailable", "UnsupportedTask", "StreamInterrupted", "ConfigError"):
        assert issubclass(getattr(openmux, error), openmux.OpenMuxError)
