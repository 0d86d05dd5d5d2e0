"""A llama-architecture GGUF model run with numpy alone: no compiler, no llama.cpp.

Weights are dequantised to float32 once, at load; a token's forward pass is a
few dozen matrix products. Two GGUF details matter for correct output:

- llama.cpp's converter stores the Q and K projections with each head's rows
  interleaved (for its rotary-embedding kernel); they are put back in Hugging
  Face's order here, so rotary embedding rotates the two halves of each head;
- the rotary base comes from the file (`llama.rope.freq_base`: SmolLM2 uses
  100000, not the original Llama's 10000).

The key/value cache keeps the last prompt's tokens: a conversation that grows
by a turn reuses the shared prefix and evaluates only the new tokens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from openmux.local._bundled import FAST_INSTALL_HINT
from openmux.local._chat_template import ChatTemplate
from openmux.local._generation import LocalModel, Sampling
from openmux.local._gguf import GGUFError, GGUFFile
from openmux.local._quants import load_tensor
from openmux.local._sampling import TokenSampler
from openmux.local._tokenizer import GGUFTokenizer
from openmux.local.hardware import detect_hardware, kv_cache_bytes_per_token, recommended_n_ctx

__all__ = ["NumpyModel"]

_PREFILL_CHUNK = 256  # prompt tokens evaluated per pass: bounds the attention matrix


def _rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    scale = 1.0 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    return (x * scale) * weight


def _unpermute(weight: np.ndarray, heads: int) -> np.ndarray:
    """Undo llama.cpp's convert_hf_to_gguf `permute` of a Q or K projection."""
    rows, cols = weight.shape
    half = rows // heads // 2
    return weight.reshape(heads, half, 2, cols).swapaxes(1, 2).reshape(rows, cols)


class _Layer:
    def __init__(self, gguf: GGUFFile, i: int, heads: int, kv_heads: int) -> None:
        def tensor(name: str) -> np.ndarray:
            info = gguf.tensors.get(f"blk.{i}.{name}.weight")
            if info is None:
                raise GGUFError(f"{gguf.path}: tensor blk.{i}.{name}.weight is missing")
            return load_tensor(gguf, info)

        q = _unpermute(tensor("attn_q"), heads)
        k = _unpermute(tensor("attn_k"), kv_heads)
        # One product per layer input instead of three (and two). Stored (out, in) as in
        # the file and used transposed: BLAS reads a transposed matrix without a copy.
        self.qkv = np.concatenate([q, k, tensor("attn_v")]).T
        self.out = tensor("attn_output").T
        self.gate_up = np.concatenate([tensor("ffn_gate"), tensor("ffn_up")]).T
        self.down = tensor("ffn_down").T
        self.attn_norm = tensor("attn_norm")
        self.ffn_norm = tensor("ffn_norm")


class _Weights:
    """Everything read from the file: shape, tokenizer, template and float32 tensors.

    Shared by every `NumpyModel` of the same file (they differ in context
    window and threads), so a second context size costs no second copy.
    """

    def __init__(self, path: Path) -> None:
        gguf = GGUFFile(path)
        try:
            self._read(path, gguf)
        except KeyError as exc:
            raise GGUFError(f"{path.name} has no tensor {exc}") from exc
        finally:
            gguf.close()

    def _read(self, path: Path, gguf: GGUFFile) -> None:
        meta = self.metadata = gguf.metadata
        arch = meta.get("general.architecture")
        if arch != "llama":
            raise GGUFError(
                f"the numpy runtime runs llama-architecture models; {path.name} is {arch!r} "
                f"(llama.cpp runs it: {FAST_INSTALL_HINT})"
            )

        def hp(key: str, default: Any = None) -> Any:
            value = meta.get(f"llama.{key}", default)
            if value is None:
                raise GGUFError(f"{path.name} has no llama.{key}")
            return value

        self.name = str(meta.get("general.name") or path.stem)
        self.train_ctx = int(hp("context_length"))
        self.heads = int(hp("attention.head_count"))
        self.kv_heads = int(hp("attention.head_count_kv", self.heads))
        self.head_dim = int(hp("embedding_length")) // self.heads
        self.eps = float(hp("attention.layer_norm_rms_epsilon"))
        rope_dims = int(hp("rope.dimension_count", self.head_dim))
        base = float(hp("rope.freq_base", 10000.0))
        self.inv_freq = base ** (-np.arange(0, rope_dims, 2, dtype=np.float64) / rope_dims)
        self.tokenizer = GGUFTokenizer(meta)
        self.embedding = load_tensor(gguf, gguf.tensors["token_embd.weight"])
        self.layers = [
            _Layer(gguf, i, self.heads, self.kv_heads) for i in range(int(hp("block_count")))
        ]
        self.output_norm = load_tensor(gguf, gguf.tensors["output_norm.weight"])
        output = gguf.tensors.get("output.weight")  # absent: tied to the embedding
        # (vocab, dim), C-ordered: logits are one matrix-vector product with no copy.
        self.output = load_tensor(gguf, output) if output is not None else self.embedding
        self.bos = int(meta.get("tokenizer.ggml.bos_token_id", -1))
        self.eos = int(meta.get("tokenizer.ggml.eos_token_id", -1))
        self.add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", False))
        self.end_ids = frozenset({self.eos}) | {
            int(meta[key])
            for key in ("tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")
            if key in meta
        }
        self.template = ChatTemplate(
            meta.get("tokenizer.chat_template"),
            bos_text=self.tokenizer.piece(self.bos),
            eos_text=self.tokenizer.piece(self.eos),
        )


_WEIGHTS: dict[str, _Weights] = {}
_WEIGHTS_LOCK = threading.Lock()


def _weights_of(path: Path) -> _Weights:
    key = str(path.resolve())
    with _WEIGHTS_LOCK:
        weights = _WEIGHTS.get(key)
        if weights is None:
            weights = _WEIGHTS[key] = _Weights(path)
        return weights


class NumpyModel(LocalModel):
    """A llama-architecture GGUF model, float32 in numpy, with a prefix-reusing KV cache."""

    runtime = "numpy"
    supports_grammar = False

    def __init__(self, path: Path, *, n_ctx: int | None, n_threads: int) -> None:
        started = time.perf_counter()
        w = self.weights = _weights_of(path)
        n_ctx = n_ctx or recommended_n_ctx(
            detect_hardware(),
            train_ctx=w.train_ctx,
            kv_bytes_per_token=kv_cache_bytes_per_token(w.metadata, value_bytes=4),  # float32
        )
        super().__init__(path, n_ctx=min(n_ctx, w.train_ctx), n_threads=n_threads, name=w.name)
        self.metadata = w.metadata
        # np.empty and position first: a conversation fills the cache front to back, so
        # only its used part is ever resident (numpy asks for huge pages, and a layer-first
        # layout touched a 2 MB page per layer and head at the first token: +265 MB).
        cache_shape = (self.n_ctx, len(w.layers), w.kv_heads, w.head_dim)
        self.k_cache = np.empty(cache_shape, dtype=np.float32)
        self.v_cache = np.empty(cache_shape, dtype=np.float32)
        self.cached: list[int] = []  # the tokens whose keys and values are in the cache
        self.end_token = w.eos
        self._blas = ThreadpoolController()
        self.load_seconds = time.perf_counter() - started

    @property
    def template(self) -> ChatTemplate:
        return self.weights.template

    def tokenize_prompt(self, prompt: str) -> list[int]:
        w = self.weights
        tokens = w.tokenizer.encode(prompt)
        if w.add_bos and w.bos >= 0 and tokens[:1] != [w.bos]:
            tokens.insert(0, w.bos)
        return tokens

    def count_tokens(self, text: str) -> int:
        return len(self.weights.tokenizer.encode(text))

    def token_bytes(self, token: int) -> bytes:
        tokenizer = self.weights.tokenizer
        return b"" if token in tokenizer.control else tokenizer.token_bytes(token)

    def is_end(self, token: int) -> bool:
        return token in self.weights.end_ids

    def forget_prompt(self) -> None:
        self.cached = []

    def next_logits(self, tokens: list[int]) -> np.ndarray:
        with self._threads():
            return self._prefill(tokens)

    def _rope(self, x: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Rotary embedding on (tokens, heads, head_dim), rotating each head's two halves."""
        inv_freq = self.weights.inv_freq
        angles = positions[:, None].astype(np.float64) * inv_freq[None, :]
        cos = np.cos(angles).astype(np.float32)[:, None, :]
        sin = np.sin(angles).astype(np.float32)[:, None, :]
        half = inv_freq.size
        x1, x2 = x[..., :half], x[..., half : 2 * half]
        rotated = np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
        if 2 * half < x.shape[-1]:  # partial rotary: the rest passes through
            rotated = np.concatenate([rotated, x[..., 2 * half :]], axis=-1)
        return rotated

    def forward(self, tokens: list[int], start: int) -> np.ndarray:
        """Logits of the last of `tokens`, which sit at positions start, start+1, ...

        Their keys and values are written to the cache; positions before
        `start` must already be there.
        """
        w = self.weights
        n, end = len(tokens), start + len(tokens)
        heads, kv_heads, hd = w.heads, w.kv_heads, w.head_dim
        group = heads // kv_heads
        positions = np.arange(start, end)
        x = w.embedding[np.asarray(tokens)]
        # Causal mask over (new queries, all keys so far): a query sees keys up to itself.
        mask = np.where(np.arange(end)[None, :] > positions[:, None], -np.inf, 0.0)
        mask = mask.astype(np.float32)
        scale = np.float32(1.0 / np.sqrt(hd))
        for i, layer in enumerate(w.layers):
            qkv = _rms_norm(x, layer.attn_norm, w.eps) @ layer.qkv
            q = qkv[:, : heads * hd].reshape(n, heads, hd)
            k = qkv[:, heads * hd : (heads + kv_heads) * hd].reshape(n, kv_heads, hd)
            v = qkv[:, (heads + kv_heads) * hd :].reshape(n, kv_heads, hd)
            self.k_cache[start:end, i] = self._rope(k, positions)
            self.v_cache[start:end, i] = v
            # Query heads that share a key/value head are stacked: (kv_heads, group*n, hd).
            q = self._rope(q, positions).transpose(1, 0, 2).reshape(kv_heads, group * n, hd)
            scores = (q @ self.k_cache[:end, i].transpose(1, 2, 0)) * scale
            scores = scores.reshape(kv_heads, group, n, end) + mask
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            values = self.v_cache[:end, i].transpose(1, 0, 2)
            attended = scores.reshape(kv_heads, group * n, end) @ values
            attended = attended.reshape(heads, n, hd).transpose(1, 0, 2).reshape(n, heads * hd)
            x = x + attended @ layer.out
            gate_up = _rms_norm(x, layer.ffn_norm, w.eps) @ layer.gate_up
            gate, up = np.split(gate_up, 2, axis=-1)
            x = x + (gate / (1.0 + np.exp(-gate)) * up) @ layer.down
        return w.output @ _rms_norm(x[-1], w.output_norm, w.eps)

    def _prefill(self, prompt_tokens: list[int]) -> np.ndarray:
        """Logits after the prompt, evaluating only what the cache does not hold."""
        shared = 0
        for cached, new in zip(self.cached, prompt_tokens, strict=False):
            if cached != new:
                break
            shared += 1
        shared = min(shared, len(prompt_tokens) - 1)  # the last token yields the logits
        self.cached = prompt_tokens[:shared]
        logits: np.ndarray | None = None
        for begin in range(shared, len(prompt_tokens), _PREFILL_CHUNK):
            chunk = prompt_tokens[begin : begin + _PREFILL_CHUNK]
            logits = self.forward(chunk, begin)
            self.cached.extend(chunk)
        assert logits is not None
        return logits

    def _threads(self) -> Any:
        """numpy's BLAS held to `n_threads` while this model computes (and only then):
        its default, one thread per core, crawls when other processes busy the cores."""
        return self._blas.limit(limits=self.n_threads, user_api="blas")

    def generate(self, prompt_tokens: list[int], sampling: Sampling, grammar: Any) -> Iterator[int]:
        sampler = TokenSampler(sampling, exempt=self.weights.end_ids)
        with self._threads():
            logits = self._prefill(prompt_tokens)
        generated: list[int] = []
        while True:
            token = sampler.pick(logits, generated)
            generated.append(token)
            yield token
            if len(self.cached) >= self.n_ctx:
                return
            with self._threads():
                logits = self.forward([token], len(self.cached))
            self.cached.append(token)
