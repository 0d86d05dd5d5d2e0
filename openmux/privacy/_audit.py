"""The audit log: one JSON line per provider attempt, no prompt text unless asked.

Each line: `time` (UTC, ISO 8601), `task`, `provider`, `model`, `status`,
`latency_ms`, the token counts of the answering attempt (`input_tokens`,
`output_tokens`, `total_tokens`), `error` (masked) for failures, `request`
(an id shared by the attempts of one request) and, with `audit_prompts`, the
`prompt` text. Every string is passed through the key redactor first.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openmux._logging import get_logger, redact_any
from openmux.config import PrivacySettings

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

_log = get_logger("openmux.audit")
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


class AuditLog:
    """Appends JSON lines to `path` (created 0600); thread-safe, never raises into a request."""

    def __init__(self, path: Path | str, *, include_prompts: bool = False) -> None:
        self.path = Path(path).expanduser()
        self.include_prompts = include_prompts

    def write(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(redact_any(dict(record)), ensure_ascii=False, default=str)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with _lock_for(self.path):
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                with os.fdopen(fd, "a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
        except OSError as exc:
            _log.warning("audit log %s not written: %s", self.path, exc)

    def record_request(
        self,
        metadata: Mapping[str, Any],
        usage: Mapping[str, Any] | None = None,
        messages: Sequence[BaseMessage] | None = None,
    ) -> None:
        """One line per attempt in `metadata["attempts"]` (the openmux metadata contract)."""
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        request_id = secrets.token_hex(6)
        attempts = list(metadata.get("attempts") or [])
        if not attempts:
            attempts = [
                {
                    "provider": metadata.get("provider"),
                    "model": metadata.get("model"),
                    "status": "ok" if metadata.get("provider") else "none",
                    "latency_ms": metadata.get("latency_ms"),
                }
            ]
        prompt = _prompt_text(messages) if self.include_prompts and messages else None
        for attempt in attempts:
            record: dict[str, Any] = {
                "time": now,
                "request": request_id,
                "task": metadata.get("task"),
                "provider": attempt.get("provider"),
                "model": attempt.get("model"),
                "status": attempt.get("status"),
                "latency_ms": attempt.get("latency_ms"),
            }
            if attempt.get("error"):
                record["error"] = attempt["error"]
            if attempt.get("status") == "ok" and usage:
                for name in ("input_tokens", "output_tokens", "total_tokens"):
                    if name in usage:
                        record[name] = usage[name]
            if prompt is not None:
                record["prompt"] = prompt
            self.write(record)


def _prompt_text(messages: Sequence[BaseMessage]) -> str:
    parts = []
    for message in messages:
        parts.append(f"{message.type}: {message.text}")
    return "\n".join(parts)


def audit_request(
    privacy: PrivacySettings | None,
    metadata: Mapping[str, Any],
    usage: Mapping[str, Any] | None = None,
    messages: Sequence[BaseMessage] | None = None,
) -> None:
    """Log one finished (or failed) request when `[privacy] audit_log` is set; else nothing."""
    if privacy is None or privacy.audit_log is None:
        return
    AuditLog(privacy.audit_log, include_prompts=privacy.audit_prompts).record_request(
        metadata, usage, messages
    )
