"""Constructor arguments: the top layer of settings, and what of them changes an answer.

`ChatOpenMux(hedge_after_ms=300)` and `[router] hedge_after_ms = 300` are one
setting: each argument below names its place in openmux.toml, so both go through
the same checks and the same precedence (the argument wins).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from openmux._suggest import unknown_key_fix
from openmux.config._cache import CacheSettings
from openmux.config._schema import Settings

# Argument name -> (table, key) in openmux.toml. Every [router] and [timeouts] setting;
# `timeout` keeps LangChain's name for the total time.
SETTING_ARGUMENTS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "providers": ("router", "providers"),
        "strategy": ("router", "strategy"),
        "free_only": ("router", "free_only"),
        "max_attempts": ("router", "max_attempts"),
        "hedge_after_ms": ("router", "hedge_after_ms"),
        "hedge_tools": ("router", "hedge_tools"),
        "policy": ("router", "policy"),
        "prefer": ("router", "prefer"),
        "exclude": ("router", "exclude"),
        "timeout": ("timeouts", "total"),
        "connect_timeout": ("timeouts", "connect"),
        "first_token_timeout": ("timeouts", "first_token"),
    }
)


def argument_overrides(
    config: Mapping[str, Any] | None, arguments: Mapping[str, Any]
) -> dict[str, Any]:
    """`config` (openmux.toml's shape) with the setting arguments that were given on top."""
    overrides: dict[str, Any] = {key: dict(value) for key, value in (config or {}).items()}
    for name, value in arguments.items():
        if value is None:
            continue
        table, key = SETTING_ARGUMENTS[name]
        overrides.setdefault(table, {})[key] = list(value) if isinstance(value, tuple) else value
    return overrides


def check_arguments(owner: str, given: Collection[str], accepted: Collection[str]) -> None:
    """Raise TypeError for an argument `owner` does not take, naming the closest one."""
    for name in given:
        if name not in accepted:
            raise TypeError(
                f"{owner}() got an unexpected keyword argument {name!r}; "
                f"{unknown_key_fix(name, accepted)}"
            )


def answer_fingerprint(settings: Settings) -> str:
    """A digest of the settings that can change which model answers, and how.

    Never secret: provider keys are left out of the providers' repr (only whether a
    provider has one counts) and header values are masked. Where the settings came from
    and where state lives are left out too, so the same configuration gives the same
    digest on every machine; so is the response cache's own table, which keeps answers
    without changing them.
    """
    shown = replace(
        settings,
        sources=MappingProxyType({}),
        state_dir=None,
        config_file=None,
        cache=CacheSettings(),
    )
    usable = [name for name, provider in settings.providers.items() if provider.usable]
    return hashlib.sha256(f"{shown!r} usable={usable!r}".encode()).hexdigest()[:16]
