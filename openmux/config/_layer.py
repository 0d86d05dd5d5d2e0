"""One source of settings (a config file, constructor arguments) and its value checks."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from openmux._suggest import unknown_key_fix
from openmux.config._toml import line_of
from openmux.errors import ConfigError


class Layer:
    """One source of settings with the shape of the config file."""

    def __init__(
        self,
        data: Mapping[str, Any],
        source: str,
        text: str | None = None,
        *,
        project_local: bool = False,
    ) -> None:
        self.data = data
        self.source = source
        self.text = text
        self.project_local = project_local

    def error(self, message: str, key: str, table: str | None, fix: str) -> ConfigError:
        line = line_of(self.text, key, table) if self.text is not None else None
        return ConfigError(message, source=self.source, line=line, fix=fix)

    def check_keys(self, table: Mapping[str, Any], known: set[str], where: str | None) -> None:
        for key in table:
            if key not in known:
                label = f"[{where}] " if where else ""
                fix = unknown_key_fix(key, known)
                raise self.error(f"unknown key {label}`{key}`", key, where, fix)

    def table(self, name: str) -> Mapping[str, Any]:
        value = self.data.get(name, {})
        if not isinstance(value, Mapping):
            raise self.error(f"`{name}` must be a table", name, None, f"write it as [{name}]")
        return value


def expect(
    layer: Layer, value: Any, kind: type | tuple[type, ...], key: str, table: str, fix: str
) -> Any:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise layer.error(f"[{table}] {key} must be a number, not {value!r}", key, table, fix)
    if not isinstance(value, kind):
        raise layer.error(
            f"[{table}] {key} has the wrong type ({type(value).__name__})", key, table, fix
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise layer.error(f"[{table}] {key} must be a finite number, not {value}", key, table, fix)
    return value


def string_list(layer: Layer, value: Any, key: str, table: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise layer.error(
            f"[{table}] {key} must be a list of strings", key, table, f'write {key} = ["a", "b"]'
        )
    return tuple(value)
