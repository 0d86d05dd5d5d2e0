"""Read the scalar metadata of a GGUF file without any model runtime.

Only the header is read (arrays such as the vocabulary are skipped), so this
is cheap enough to call before deciding how to load a model.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path
from typing import Any

from openmux.errors import OpenMuxError

__all__ = ["GGUFError", "read_gguf_metadata"]

_MAGIC = b"GGUF"
# value type -> struct format of one scalar
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9


class GGUFError(OpenMuxError, ValueError):
    """The file is not a GGUF file this reader understands."""


class _Cursor:
    """Reads little-endian values from a memory-mapped file."""

    def __init__(self, data: mmap.mmap) -> None:
        self.data = data
        self.pos = 0

    def scalar(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise GGUFError("truncated GGUF header")
        value = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += size
        return value

    def string(self) -> str:
        length = self.scalar("<Q")
        if self.pos + length > len(self.data):
            raise GGUFError("truncated GGUF string")
        text = self.data[self.pos : self.pos + length].decode("utf-8", errors="replace")
        self.pos += length
        return text

    def skip(self, vtype: int) -> None:
        if vtype in _SCALARS:
            self.pos += struct.calcsize(_SCALARS[vtype])
        elif vtype == _STRING:
            self.pos += self.scalar("<Q")
        elif vtype == _ARRAY:
            item_type, count = self.scalar("<I"), self.scalar("<Q")
            if item_type in _SCALARS:
                self.pos += struct.calcsize(_SCALARS[item_type]) * count
            elif item_type == _STRING:
                data, pos = self.data, self.pos
                for _ in range(count):
                    pos += 8 + struct.unpack_from("<Q", data, pos)[0]
                self.pos = pos
            else:
                for _ in range(count):
                    self.skip(item_type)
        else:
            raise GGUFError(f"unknown GGUF value type {vtype}")


def read_gguf_metadata(path: str | Path) -> dict[str, Any]:
    """Scalar and string key/values of a GGUF file; arrays are left out."""
    out: dict[str, Any] = {}
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data[:4] != _MAGIC:
            raise GGUFError(f"{path} is not a GGUF file")
        cur = _Cursor(data)
        cur.pos = 4
        try:
            version = cur.scalar("<I")
            if version < 2:
                raise GGUFError(f"GGUF version {version} is too old")
            cur.scalar("<Q")  # tensor count
            for _ in range(cur.scalar("<Q")):
                key = cur.string()
                vtype = cur.scalar("<I")
                if vtype in _SCALARS:
                    out[key] = cur.scalar(_SCALARS[vtype])
                elif vtype == _STRING:
                    out[key] = cur.string()
                else:
                    cur.skip(vtype)
        except struct.error as exc:
            raise GGUFError(f"{path}: corrupt GGUF header ({exc})") from exc
    return out
