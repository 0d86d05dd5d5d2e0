"""`openmux playground`: chat, compare and vote in the browser (the `ui` extra, Gradio).

`Session` holds what the playground does and imports no UI library; `launch` wraps it
in Gradio, imported on first use (an ImportError without the extra).
"""

from typing import Any

from openmux.playground._session import Choices, Session

__all__ = ["Choices", "Session", "launch"]


def __getattr__(name: str) -> Any:
    if name == "launch":
        from openmux.playground._app import launch

        return launch
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
