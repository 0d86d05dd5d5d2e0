"""The `[privacy]` table of openmux.toml.

```toml
[privacy]
audit_log = "~/openmux-audit.jsonl"   # JSON lines, one per attempt; unset: no log
audit_prompts = false                 # also log the prompt text
scrub_pii = false                     # mask personal data before remote providers see it
scrub_kinds = ["email", "phone", "card", "iban"]
```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from openmux._suggest import unknown_key_fix
from openmux.errors import ConfigError

PII_KINDS: tuple[str, ...] = ("email", "phone", "card", "iban")
"""What PII scrubbing can mask (openmux.privacy finds each kind)."""

PRIVACY_KEYS = frozenset({"audit_log", "audit_prompts", "scrub_pii", "scrub_kinds"})

# (message, key, fix) -> the ConfigError naming the file and line.
ErrorFactory = Callable[[str, str, str], ConfigError]


@dataclass(frozen=True)
class PrivacySettings:
    audit_log: Path | None = None
    audit_prompts: bool = False
    scrub_pii: bool = False
    scrub_kinds: tuple[str, ...] = PII_KINDS


def _default_error(source: str | None) -> ErrorFactory:
    return lambda message, key, fix: ConfigError(message, source=source, fix=fix)


def parse_privacy(
    table: Mapping[str, Any],
    *,
    current: PrivacySettings | None = None,
    error: ErrorFactory | None = None,
    base_dir: Path | None = None,
) -> PrivacySettings:
    """Merge one layer's `[privacy]` table over `current`; ConfigError on a mistake.

    `error` builds the ConfigError (the settings loader passes one that names the
    file and line); a relative `audit_log` is taken relative to `base_dir` (the
    config file's folder).
    """
    settings = current or PrivacySettings()
    fail = error or _default_error(None)
    for key in table:
        if key not in PRIVACY_KEYS:
            raise fail(f"unknown key [privacy] `{key}`", key, unknown_key_fix(key, PRIVACY_KEYS))
    changes: dict[str, Any] = {}
    if "audit_log" in table:
        value = table["audit_log"]
        if value in ("", False, None):
            changes["audit_log"] = None
        elif isinstance(value, str):
            path = Path(value).expanduser()
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            changes["audit_log"] = path
        else:
            raise fail(
                "[privacy] audit_log must be a file path", "audit_log", 'audit_log = "audit.jsonl"'
            )
    for flag in ("audit_prompts", "scrub_pii"):
        if flag in table:
            if not isinstance(table[flag], bool):
                raise fail(f"[privacy] {flag} must be true or false", flag, "true or false")
            changes[flag] = table[flag]
    if "scrub_kinds" in table:
        kinds = table["scrub_kinds"]
        if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
            raise fail(
                "[privacy] scrub_kinds must be a list of strings",
                "scrub_kinds",
                f"e.g. {list(PII_KINDS)}",
            )
        unknown = [k for k in kinds if k not in PII_KINDS]
        if unknown:
            raise fail(
                f"[privacy] scrub_kinds names unknown kind(s): {', '.join(unknown)}",
                "scrub_kinds",
                f"use some of: {', '.join(PII_KINDS)}",
            )
        changes["scrub_kinds"] = tuple(kinds)
    return replace(settings, **changes)


def privacy_of(settings: Any) -> PrivacySettings:
    """The privacy settings of a `Settings` (defaults when it has none)."""
    value = getattr(settings, "privacy", None)
    return value if isinstance(value, PrivacySettings) else PrivacySettings()
