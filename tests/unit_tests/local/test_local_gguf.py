"""The GGUF header reader, on files written by the test."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from openmux.local._gguf import GGUFError, read_gguf_metadata


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _write_gguf(path: Path) -> None:
    kvs = [
        _string("general.architecture") + struct.pack("<I", 8) + _string("llama"),
        _string("llama.context_length") + struct.pack("<I", 4) + struct.pack("<I", 2048),
        _string("tokenizer.ggml.tokens")
        + struct.pack("<I", 9)
        + struct.pack("<IQ", 8, 3)
        + _string("<s>")
        + _string("hello")
        + _string("wörld"),
        _string("tokenizer.ggml.scores")
        + struct.pack("<I", 9)
        + struct.pack("<IQ", 6, 2)
        + struct.pack("<ff", 0.5, 1.5),
        _string("tokenizer.ggml.add_bos_token") + struct.pack("<I", 7) + struct.pack("<?", True),
        _string("tokenizer.chat_template") + struct.pack("<I", 8) + _string("{{ messages }}"),
        _string("general.rope_scale") + struct.pack("<I", 12) + struct.pack("<d", 1.25),
    ]
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs))
    path.write_bytes(header + b"".join(kvs))


def test_reads_scalars_and_strings_and_skips_arrays(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    _write_gguf(path)
    meta = read_gguf_metadata(path)
    assert meta == {
        "general.architecture": "llama",
        "llama.context_length": 2048,
        "tokenizer.ggml.add_bos_token": True,
        "tokenizer.chat_template": "{{ messages }}",
        "general.rope_scale": 1.25,
    }


def test_rejects_a_file_that_is_not_gguf(tmp_path: Path) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(b"NOPE" + b"\0" * 32)
    with pytest.raises(GGUFError):
        read_gguf_metadata(path)


def test_rejects_a_truncated_header(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    _write_gguf(path)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(GGUFError):
        read_gguf_metadata(path)
