"""Run the local chat tests once per runtime: numpy (always there) and llama.cpp (if installed)."""

from __future__ import annotations

import pytest

from openmux.local._llama import llama_cpp_importable
from openmux.local._runtime import RUNTIME_ENV


@pytest.fixture(params=["numpy", "llama.cpp"])
def local_runtime(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which runtime serves the local model in this test (through OPENMUX_LOCAL_RUNTIME)."""
    runtime = str(request.param)
    if runtime == "llama.cpp" and not llama_cpp_importable():
        pytest.skip('llama.cpp is not installed: pip install "openmux[local-fast]"')
    monkeypatch.setenv(RUNTIME_ENV, runtime)
    return runtime
