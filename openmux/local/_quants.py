"""Turn GGUF tensor bytes into float32 numpy arrays.

The block formats follow ggml's reference `dequantize_row_*` functions
(ggml/src/ggml-quants.c): each block stores a float16 scale (and, for the
`_1` formats, a float16 minimum) followed by packed integers. The numpy
runtime dequantises once, at load, and computes in float32.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from openmux.local._bundled import FAST_INSTALL_HINT
from openmux.local._gguf import GGUFError, GGUFFile, TensorInfo

__all__ = ["SUPPORTED_TYPES", "load_tensor"]

_F32, _F16, _Q4_0, _Q4_1, _Q5_0, _Q5_1, _Q8_0, _BF16 = 0, 1, 2, 3, 6, 7, 8, 30
_BLOCK = 32  # elements per block of the 4-, 5- and 8-bit formats


def _blocks(raw: memoryview, n_blocks: int, block_bytes: int) -> np.ndarray:
    return np.frombuffer(raw, dtype=np.uint8).reshape(n_blocks, block_bytes)


def _half(blocks: np.ndarray, start: int) -> np.ndarray:
    """A float16 field of every block, as a float32 column."""
    return blocks[:, start : start + 2].copy().view(np.float16).astype(np.float32)


def _nibbles(packed: np.ndarray) -> np.ndarray:
    """16 bytes per block -> 32 values: low nibbles are elements 0-15, high ones 16-31."""
    return np.concatenate([packed & 0x0F, packed >> 4], axis=1)


def _fifth_bits(blocks: np.ndarray, start: int) -> np.ndarray:
    """The 32 high bits of the 5-bit formats (bit j belongs to element j), as 0 or 16."""
    high = blocks[:, start : start + 4].copy().view("<u4")
    return (((high >> np.arange(_BLOCK, dtype=np.uint32)) & 1) << 4).astype(np.uint8)


def _q4_0(raw: memoryview, n: int) -> np.ndarray:
    blocks = _blocks(raw, n // _BLOCK, 18)
    return (_nibbles(blocks[:, 2:]).astype(np.float32) - 8) * _half(blocks, 0)


def _q4_1(raw: memoryview, n: int) -> np.ndarray:
    blocks = _blocks(raw, n // _BLOCK, 20)
    return _nibbles(blocks[:, 4:]).astype(np.float32) * _half(blocks, 0) + _half(blocks, 2)


def _q5_0(raw: memoryview, n: int) -> np.ndarray:
    blocks = _blocks(raw, n // _BLOCK, 22)
    values = _nibbles(blocks[:, 6:]) | _fifth_bits(blocks, 2)
    return (values.astype(np.float32) - 16) * _half(blocks, 0)


def _q5_1(raw: memoryview, n: int) -> np.ndarray:
    blocks = _blocks(raw, n // _BLOCK, 24)
    values = _nibbles(blocks[:, 8:]) | _fifth_bits(blocks, 4)
    return values.astype(np.float32) * _half(blocks, 0) + _half(blocks, 2)


def _q8_0(raw: memoryview, n: int) -> np.ndarray:
    blocks = _blocks(raw, n // _BLOCK, 34)
    return blocks[:, 2:].copy().view(np.int8).astype(np.float32) * _half(blocks, 0)


def _f32(raw: memoryview, n: int) -> np.ndarray:
    return np.frombuffer(raw, dtype="<f4", count=n).copy()


def _f16(raw: memoryview, n: int) -> np.ndarray:
    return np.frombuffer(raw, dtype="<f2", count=n).astype(np.float32)


def _bf16(raw: memoryview, n: int) -> np.ndarray:
    return (np.frombuffer(raw, dtype="<u2", count=n).astype(np.uint32) << 16).view(np.float32)


# type id -> (name, elements per block, bytes per block, dequantiser)
_FORMATS: dict[int, tuple[str, int, int, Callable[[memoryview, int], np.ndarray]]] = {
    _F32: ("F32", 1, 4, _f32),
    _F16: ("F16", 1, 2, _f16),
    _BF16: ("BF16", 1, 2, _bf16),
    _Q4_0: ("Q4_0", _BLOCK, 18, _q4_0),
    _Q4_1: ("Q4_1", _BLOCK, 20, _q4_1),
    _Q5_0: ("Q5_0", _BLOCK, 22, _q5_0),
    _Q5_1: ("Q5_1", _BLOCK, 24, _q5_1),
    _Q8_0: ("Q8_0", _BLOCK, 34, _q8_0),
}
SUPPORTED_TYPES = tuple(name for name, *_ in _FORMATS.values())


_CHUNK_ELEMENTS = 1 << 20  # dequantised at a time: bounds the temporaries' memory


def load_tensor(gguf: GGUFFile, info: TensorInfo) -> np.ndarray:
    """The tensor as a float32 array of its numpy shape.

    Decoded a million values at a time into the result: decoding the 28M-value
    embedding of SmolLM2 in one go would hold three float32 temporaries of it.
    """
    fmt = _FORMATS.get(info.type_id)
    if fmt is None:
        raise GGUFError(
            f"tensor {info.name} uses GGUF type {info.type_id}, which the numpy runtime "
            f"does not read (it reads {', '.join(SUPPORTED_TYPES)}); llama.cpp reads it: "
            f"{FAST_INSTALL_HINT}"
        )
    _, block_elements, block_bytes, dequantise = fmt
    count = int(np.prod(info.shape))
    if count % block_elements:
        raise GGUFError(f"tensor {info.name} has {count} values, not whole blocks")
    raw = gguf.raw(info, count // block_elements * block_bytes)
    out = np.empty(count, dtype=np.float32)
    step = max(block_elements, _CHUNK_ELEMENTS - _CHUNK_ELEMENTS % block_elements)
    with raw:
        for start in range(0, count, step):
            n = min(step, count - start)
            first = start // block_elements * block_bytes
            with raw[first : first + n // block_elements * block_bytes] as piece:
                out[start : start + n] = dequantise(piece, n).reshape(-1)
    return out.reshape(info.shape)
