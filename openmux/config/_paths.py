"""Where OpenMux keeps state that outlives a process."""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def default_state_dir() -> Path:
    """The user state dir (health, catalog cache); OPENMUX_STATE_DIR overrides it per Settings."""
    from platformdirs import user_state_dir

    return Path(user_state_dir("openmux", appauthor=False))
