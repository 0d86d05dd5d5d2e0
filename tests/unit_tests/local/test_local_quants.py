"""GGUF block formats decode as ggml's reference code does, on blocks the test packs."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from openmux.local._gguf import GGUFError, GGUFFile
from openmux.local._quants import load_tensor

RNG = np.random.default_rng(0)


def _half(value: float) -> bytes:
    return np.float16(value).tobytes()


def _nibbles(low: np.ndarray, high: np.ndarray) -> bytes:
    return bytes((low | (high << 4)).astype(np.uint8))


def _q4_0() -> tuple[bytes, np.ndarray]:
    q = RNG.integers(0, 16, 32)
    d = np.float16(0.25)
    return _half(d) + _nibbles(q[:16], q[16:]), (q - 8) * np.float32(d)


def _q4_1() -> tuple[bytes, np.ndarray]:
    q = RNG.integers(0, 16, 32)
    d, m = np.float16(0.5), np.float16(-1.25)
    return _half(d) + _half(m) + _nibbles(q[:16], q[16:]), q * np.float32(d) + np.float32(m)


def _fifth(q: np.ndarray) -> bytes:
    return struct.pack("<I", sum(int(q[j] >> 4) << j for j in range(32)))


def _q5_0() -> tuple[bytes, np.ndarray]:
    q = RNG.integers(0, 32, 32)
    d = np.float16(0.125)
    packed = _half(d) + _fifth(q) + _nibbles(q[:16] & 15, q[16:] & 15)
    return packed, (q - 16) * np.float32(d)


def _q5_1() -> tuple[bytes, np.ndarray]:
    q = RNG.integers(0, 32, 32)
    d, m = np.float16(0.25), np.float16(0.5)
    packed = _half(d) + _half(m) + _fifth(q) + _nibbles(q[:16] & 15, q[16:] & 15)
    return packed, q * np.float32(d) + np.float32(m)


def _q8_0() -> tuple[bytes, np.ndarray]:
    q = RNG.integers(-128, 128, 32)
    d = np.float16(0.03125)
    return _half(d) + q.astype(np.int8).tobytes(), q * np.float32(d)


def _f16() -> tuple[bytes, np.ndarray]:
    values = RNG.standard_normal(32).astype(np.float16)
    return values.tobytes(), values.astype(np.float32)


def _bf16() -> tuple[bytes, np.ndarray]:
    values = RNG.standard_normal(32).astype(np.float32)
    top = (values.view(np.uint32) >> 16).astype(np.uint16)
    return top.tobytes(), (top.astype(np.uint32) << 16).view(np.float32)


def _write(path: Path, type_id: int, blocks: list[bytes], shape: tuple[int, ...]) -> None:
    name = b"t.weight"
    dims = tuple(reversed(shape))
    header = b"GGUF" + struct.pack("<IQQ", 3, 1, 0)
    header += struct.pack("<Q", len(name)) + name + struct.pack(f"<I{len(dims)}Q", len(dims), *dims)
    header += struct.pack("<IQ", type_id, 0)
    path.write_bytes(header + b"\0" * (-len(header) % 32) + b"".join(blocks))


@pytest.mark.parametrize(
    ("type_id", "make"),
    [(2, _q4_0), (3, _q4_1), (6, _q5_0), (7, _q5_1), (8, _q8_0), (1, _f16), (30, _bf16)],
    ids=["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "F16", "BF16"],
)
def test_block_formats_decode_like_ggml(type_id: int, make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    blocks = [make() for _ in range(4)]
    path = tmp_path / "t.gguf"
    _write(path, type_id, [b for b, _ in blocks], (2, 64))
    gguf = GGUFFile(path)
    decoded = load_tensor(gguf, gguf.tensors["t.weight"])
    gguf.close()
    expected = np.concatenate([values for _, values in blocks]).reshape(2, 64)
    assert decoded.shape == (2, 64)
    np.testing.assert_allclose(decoded, expected, rtol=1e-6)


def test_an_unsupported_type_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t.gguf"
    _write(path, 14, [b"\0" * 210], (256,))  # Q6_K
    gguf = GGUFFile(path)
    with pytest.raises(GGUFError, match=r"GGUF type 14.*reads F32"):
        load_tensor(gguf, gguf.tensors["t.weight"])
    gguf.close()


def test_a_tensor_past_the_end_of_the_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "t.gguf"
    _write(path, 0, [b"\0" * 16], (8,))  # 8 float32 need 32 bytes
    gguf = GGUFFile(path)
    with pytest.raises(GGUFError, match="past the end"):
        load_tensor(gguf, gguf.tensors["t.weight"])
    gguf.close()
