"""`openmux playground`: chat, compare and vote in the browser (the `ui` extra, Gradio).

`Session` holds what the playground does and imports no UI library; `build_app` (in
`openmux.playground._app`) wraps it in Gradio.
"""

from openmux.playground._session import Choices, Session

__all__ = ["Choices", "Session"]
