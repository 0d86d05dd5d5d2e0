"""Compact JSON for bodies on the hot path: orjson when it is installed (`openmux serve`
installs it; several times json's speed on every answer and stream event), json for
what orjson refuses to write (integers beyond 64 bits, keys that are not strings) or
to read (NaN, integers beyond 64 bits), and when it is absent."""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - json alone serves
    orjson = None  # type: ignore[assignment]


def dumps(payload: Any) -> bytes:
    if orjson is not None:
        try:
            return orjson.dumps(payload)
        except TypeError:
            pass
    return json.dumps(payload, separators=(",", ":")).encode()


def loads(data: bytes | str) -> Any:
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)
