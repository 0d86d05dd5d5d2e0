"""Settings worth a word to the user: said once per process, however often settings load."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from openmux.errors import ConfigError

_lock = threading.Lock()
_said: set[str] = set()


def report_free_only_off(source: str) -> None:
    """Paid models may now be called: say so, and which file or variable did it."""
    message = (
        f"free_only is off (set by {source}): paid models may be called and billed; "
        "set OPENMUX_FREE_ONLY=1 to keep to free models"
    )
    with _lock:
        if message in _said:
            return
        _said.add(message)
    from openmux._logging import get_logger

    get_logger("openmux.config").warning("%s", message)


def check_log_level(environ: Mapping[str, str]) -> None:
    """A level nobody can use is a mistake to report, not to ignore."""
    value = environ.get("OPENMUX_LOG_LEVEL", "").strip()
    if not value or value.isdigit():
        return
    if isinstance(logging.getLevelName(value.upper()), int):
        return
    raise ConfigError(
        f"OPENMUX_LOG_LEVEL={value!r} is not a log level",
        source="environment",
        fix="use DEBUG, INFO, WARNING, ERROR or CRITICAL, or unset it",
    )
