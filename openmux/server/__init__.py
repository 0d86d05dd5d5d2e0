"""`openmux serve`: an OpenAI-compatible HTTP server over the OpenMux router.

Any OpenAI client gets OpenMux's routing, failover and free models by changing
its base URL:

```python
from openai import OpenAI

client = OpenAI(base_url="http://127.0.0.1:8080/v1", api_key="unused-on-loopback")
client.chat.completions.create(model="openmux/auto", messages=[...])
```

Model names: `openmux/auto` routes, `openmux/TASK` (`openmux/code`, ...) forces
the task, `openmux/fanout` asks several models at once, `PROVIDER:ID` pins a
model. The route travels in `x-openmux-*` headers (a stream's leave with its first
chunk; its last event's `openmux` field holds the full record), beside the provider's
`x-ratelimit-*` headers. Needs the `server` extra; `import openmux.server` loads no
ASGI library until an app is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openmux.server._app import create_app
    from openmux.server._run import app_from_environment, serve

__all__ = ["app_from_environment", "create_app", "serve"]

_LAZY = {
    "create_app": "openmux.server._app",
    "app_from_environment": "openmux.server._run",
    "serve": "openmux.server._run",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'openmux.server' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
