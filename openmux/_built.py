"""What a model object builds from its fields, kept apart so that copies build their own.

Settings, routers, connection pools and locks cannot be pickled or deep-copied, and a
`model_copy(update=...)` that kept them would keep the old configuration. Held in
`BuiltFromFields`, they travel with no copy: a copy, an unpickled instance or an
updated one finds a holder built for another field dict and builds its own on first use.
"""

from __future__ import annotations

import threading
from typing import Any


class BuiltFromFields:
    """State built from one field dict (`owner`); empty again in every copy."""

    __slots__ = ("fingerprint", "graph", "lock", "owner", "router", "settings")

    def __init__(self, owner: dict[str, Any] | None = None) -> None:
        self.owner = owner
        self.settings: Any = None
        self.router: Any = None
        self.graph: Any = None
        self.fingerprint: str | None = None
        self.lock = threading.Lock()

    def __reduce__(self) -> tuple[type[BuiltFromFields], tuple[()]]:
        return BuiltFromFields, ()

    def __copy__(self) -> BuiltFromFields:
        return BuiltFromFields()

    def __deepcopy__(self, memo: dict[int, Any]) -> BuiltFromFields:
        return BuiltFromFields()
