"""Read GGUF files without any model runtime: the header, and on request the tensors.

`read_gguf_metadata` reads the scalar key/values only (arrays such as the
vocabulary are skipped), cheap enough to call before deciding how to load a
model. `GGUFFile` maps the whole file and also reads the arrays and where each
tensor's bytes lie, for the numpy runtime; it parses the header in pure Python
(tens of milliseconds for a 49k-token vocabulary) and copies no tensor data.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openmux.errors import OpenMuxError

__all__ = ["GGUFError", "GGUFFile", "TensorInfo", "read_gguf_metadata"]

_MAGIC = b"GGUF"
_DEFAULT_ALIGNMENT = 32
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


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lies in the file. `shape` is numpy order (slowest axis first)."""

    name: str
    shape: tuple[int, ...]
    type_id: int
    offset: int  # from the start of the file


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

    def array(self) -> list[Any]:
        item_type, count = self.scalar("<I"), self.scalar("<Q")
        if item_type in _SCALARS:
            fmt = _SCALARS[item_type]
            size = struct.calcsize(fmt) * count
            if self.pos + size > len(self.data):
                raise GGUFError("truncated GGUF array")
            values = list(struct.unpack_from(f"<{count}{fmt[1]}", self.data, self.pos))
            self.pos += size
            return values
        if item_type == _STRING:
            return self._strings(count)
        if item_type == _ARRAY:
            return [self.array() for _ in range(count)]
        raise GGUFError(f"unknown GGUF value type {item_type}")

    def _strings(self, count: int) -> list[str]:
        # A vocabulary is ~50k strings: one tight loop instead of a method call per item.
        data, pos, size, out = self.data, self.pos, len(self.data), []
        unpack = struct.Struct("<Q").unpack_from
        for _ in range(count):
            (length,) = unpack(data, pos)
            pos += 8
            if pos + length > size:
                raise GGUFError("truncated GGUF string")
            out.append(data[pos : pos + length].decode("utf-8", errors="replace"))
            pos += length
        self.pos = pos
        return out

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


def _read_header(
    path: str | Path, data: mmap.mmap, *, arrays: bool
) -> tuple[_Cursor, int, dict[str, Any]]:
    """A cursor after the key/values, the tensor count, and the key/values."""
    if data[:4] != _MAGIC:
        raise GGUFError(f"{path} is not a GGUF file")
    cur = _Cursor(data)
    cur.pos = 4
    out: dict[str, Any] = {}
    try:
        version = cur.scalar("<I")
        if version < 2:
            raise GGUFError(f"GGUF version {version} is too old")
        tensor_count = cur.scalar("<Q")
        for _ in range(cur.scalar("<Q")):
            key = cur.string()
            vtype = cur.scalar("<I")
            if vtype in _SCALARS:
                out[key] = cur.scalar(_SCALARS[vtype])
            elif vtype == _STRING:
                out[key] = cur.string()
            elif vtype == _ARRAY and arrays:
                out[key] = cur.array()
            else:
                cur.skip(vtype)
    except struct.error as exc:
        raise GGUFError(f"{path}: corrupt GGUF header ({exc})") from exc
    return cur, tensor_count, out


def read_gguf_metadata(path: str | Path) -> dict[str, Any]:
    """Scalar and string key/values of a GGUF file; arrays are left out."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return _read_header(path, data, arrays=False)[2]


class GGUFFile:
    """A GGUF file mapped into memory: all key/values, and each tensor's raw bytes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as f:
            self._data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            cur, tensor_count, self.metadata = _read_header(path, self._data, arrays=True)
            infos: list[tuple[str, tuple[int, ...], int, int]] = []
            for _ in range(tensor_count):
                name = cur.string()
                dims = [cur.scalar("<Q") for _ in range(cur.scalar("<I"))]
                type_id, offset = cur.scalar("<I"), cur.scalar("<Q")
                # GGUF lists the fastest-varying axis first; numpy wants it last.
                infos.append((name, tuple(reversed(dims)), type_id, offset))
        except struct.error as exc:
            self._data.close()
            raise GGUFError(f"{path}: corrupt GGUF tensor table ({exc})") from exc
        alignment = int(self.metadata.get("general.alignment", _DEFAULT_ALIGNMENT))
        start = -(-cur.pos // alignment) * alignment
        self.tensors = {
            name: TensorInfo(name, shape, type_id, start + offset)
            for name, shape, type_id, offset in infos
        }

    def raw(self, info: TensorInfo, nbytes: int) -> memoryview:
        """The `nbytes` stored for a tensor, without copying them."""
        end = info.offset + nbytes
        if end > len(self._data):
            raise GGUFError(f"{self.path}: tensor {info.name} runs past the end of the file")
        return memoryview(self._data)[info.offset : end]

    def close(self) -> None:
        self._data.close()
