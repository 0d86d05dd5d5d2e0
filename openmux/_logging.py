"""The `openmux` logger: level from OPENMUX_LOG_LEVEL, every record redacted.

A filter on a logger sees only records logged on that very logger, not those
propagated from its children, so `get_logger(name)` puts the redacting filter
on each logger it hands out, and `install()` puts it on the `openmux` logger
and on every `openmux.*` logger created so far. The filter rewrites the record
in place (message formatted, then masked; args and exception text masked too),
so every handler downstream, whoever installed it, sees the masked text.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

from openmux._redact import redact

LOGGER_NAME = "openmux"
LEVEL_ENV = "OPENMUX_LOG_LEVEL"

_lock = threading.Lock()
_installed = False


class RedactingFilter(logging.Filter):
    """Masks keys and Authorization headers in a record's message, args and exception."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_openmux_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw parts, masked
            message = f"{record.msg!s} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            # Handlers format exc_info again when it is set; the masked text must win.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(vars(record).items()):
            # `extra=` fields: mask strings handed to structured-log handlers.
            if name not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, name, redact(value))
        record._openmux_redacted = True
        return True


_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "_openmux_redacted",
}

_FILTER = RedactingFilter()
_CLIENT_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "openai")


def _level_from_env() -> int | None:
    value = os.environ.get(LEVEL_ENV, "").strip()
    if not value:
        return None
    if value.isdigit():
        return int(value)
    level = logging.getLevelName(value.upper())
    return level if isinstance(level, int) else None


def _attach(logger: logging.Logger) -> None:
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


def install() -> logging.Logger:
    """Idempotent: level from the environment, redaction on `openmux` and its children."""
    global _installed
    root = logging.getLogger(LOGGER_NAME)
    with _lock:
        _attach(root)
        for name in _CLIENT_LOGGERS:
            # Their request lines hold URLs, which may carry credentials.
            _attach(logging.getLogger(name))
        # A logger's filters see only what is logged on it, not what its children pass up:
        # every child there is so far is covered (the HTTP clients log on children such
        # as httpx._client; their modules call this again once imported).
        families = tuple(f"{name}." for name in (LOGGER_NAME, *_CLIENT_LOGGERS))
        for name, logger in list(logging.Logger.manager.loggerDict.items()):
            if name.startswith(families) and isinstance(logger, logging.Logger):
                _attach(logger)
        if not _installed:
            level = _level_from_env()
            if level is not None:
                root.setLevel(level)
                if not root.handlers and not logging.getLogger().handlers:
                    handler = logging.StreamHandler()
                    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
                    handler.addFilter(_FILTER)
                    root.addHandler(handler)
            _installed = True
    return root


def get_logger(name: str = LOGGER_NAME) -> logging.Logger:
    """A logger under `openmux` whose records are redacted before any handler sees them."""
    if name != LOGGER_NAME and not name.startswith(LOGGER_NAME + "."):
        name = f"{LOGGER_NAME}.{name}"
    install()
    logger = logging.getLogger(name)
    _attach(logger)
    return logger


def redact_any(value: Any) -> Any:
    """Mask secrets inside JSON-like data (dicts, lists, strings) before it is printed."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_any(k): redact_any(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_any(v) for v in value]
    return value


_LIBRARY_DIRS = tuple(
    os.path.dirname(os.path.dirname(__file__)) + os.sep + name + os.sep
    for name in ("openmux", "langchain_core")
)
"""Frames of these packages are ours: a warning points past them, at the caller's line."""


def caller_stacklevel() -> int:
    """The `warnings.warn` stacklevel of the first frame outside OpenMux and langchain-core.

    The caller of this function is level 1. Python 3.12's `skip_file_prefixes` does the
    same; this works on 3.10 too.
    """
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
        frame = frame.f_back
        level += 1
    return level
