"""`import openmux` and `openmux --help` load no provider SDK and no server library."""

from __future__ import annotations

import sys

import openmux
from tests.helpers import run_child

_HEAVY = (
    "langchain_openai",
    "langchain_ollama",
    "openai",
    "ollama",
    "httpx",
    "httptools",
    "langchain_core.language_models",
    "gradio",
    "llama_index",
    "starlette",
    "uvicorn",
    "prometheus_client",
    "onnxruntime",
    "onnx",
    "tokenizers",
    "huggingface_hub",
    "redis",  # the shared-state client: only once a redis:// state url is used
)


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    output = run_child([sys.executable, "-c", probe], check=True).stdout
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


def test_public_names_are_pinned() -> None:
    assert sorted(openmux.__all__) == sorted(
        [
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
    )
    for name in openmux.__all__:
        assert getattr(openmux, name) is not None


def _exception_classes() -> list[type[BaseException]]:
    """Every public exception class defined in the package (private ones never escape)."""
    import importlib
    import inspect
    import pkgutil

    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(openmux.__path__, "openmux."):
        name = module_info.name
        if any(part in name for part in (".testing", ".cli", "__main__")):
            continue
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue  # an optional extra that is not installed
        for attribute, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__.startswith("openmux")
                and not attribute.startswith("_")
            ):
                found[value.__qualname__] = value
    return list(found.values())


def test_every_exception_is_an_openmux_error_drawn_in_the_tree() -> None:
    classes = _exception_classes()
    assert len(classes) >= 10
    tree = openmux.errors.__doc__ or ""
    for error in classes:
        assert issubclass(error, openmux.OpenMuxError), error
        assert f" {error.__name__} " in tree, f"{error.__name__} is missing from the tree"
