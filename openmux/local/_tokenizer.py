"""The GGUF file's own tokenizer, rebuilt with the `tokenizers` wheel (no llama.cpp).

GGUF files converted from Hugging Face byte-level BPE models ("gpt2" in
`tokenizer.ggml.model`) carry the vocabulary and merges; the pre-tokenizer is
named by `tokenizer.ggml.pre`. Only the pre-tokenizers mapped below are
rebuilt: others would split text differently from the model's training, so
they are refused with a pointer to the llama.cpp runtime.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

from openmux.local._bundled import FAST_INSTALL_HINT

__all__ = ["GGUFTokenizer"]

_CONTROL, _USER_DEFINED = 3, 4
# tokenizer.ggml.pre -> split digits one by one before the GPT-2 byte-level split?
# (llama.cpp's llama-vocab.cpp: "smollm" adds a single-digit rule to GPT-2's regex.)
_PRE_TOKENIZERS = {"smollm": True, "gpt-2": False, "gpt2": False, "default": False}


@lru_cache(maxsize=1)
def _byte_of_char() -> dict[str, int]:
    """GPT-2's reversible map from printable characters back to bytes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(char): byte for byte, char in zip(printable, chars, strict=True)}


class GGUFTokenizer:
    """Encodes prompts (special tokens recognised) and gives each token's bytes."""

    def __init__(self, metadata: Mapping[str, Any]) -> None:
        kind = metadata.get("tokenizer.ggml.model")
        pre = str(metadata.get("tokenizer.ggml.pre", "default"))
        if kind != "gpt2" or pre not in _PRE_TOKENIZERS:
            raise ValueError(
                f"the numpy runtime reads byte-level BPE tokenizers only (this file has "
                f"{kind!r} with pre-tokenizer {pre!r}); llama.cpp reads it: {FAST_INSTALL_HINT}"
            )
        tokens: Sequence[str] = metadata["tokenizer.ggml.tokens"]
        types: Sequence[int] = metadata.get("tokenizer.ggml.token_type") or [1] * len(tokens)
        merges = [tuple(m.split(" ", 1)) for m in metadata["tokenizer.ggml.merges"]]
        self._tokenizer = Tokenizer(
            models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges)
        )
        splits: list[Any] = [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
        if _PRE_TOKENIZERS[pre]:
            splits.insert(0, pre_tokenizers.Digits(individual_digits=True))
        self._tokenizer.pre_tokenizer = pre_tokenizers.Sequence(splits)
        self._tokenizer.decoder = decoders.ByteLevel()
        kinds = list(zip(tokens, types, strict=True))
        special = [t for t, kind in kinds if kind in (_CONTROL, _USER_DEFINED)]
        self._tokenizer.add_special_tokens(
            [AddedToken(t, special=True, normalized=False) for t in special]
        )
        self._pieces = tokens
        self._types = types
        self._bytes: dict[int, bytes] = {}
        self.control = frozenset(i for i, kind in enumerate(types) if kind == _CONTROL)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, with special tokens such as `<|im_start|>` recognised."""
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def token_bytes(self, token: int) -> bytes:
        """The bytes a token stands for (GPT-2's printable stand-ins mapped back)."""
        found = self._bytes.get(token)
        if found is None:
            text, byte_of = self._pieces[token], _byte_of_char()
            if self._types[token] == _CONTROL or any(c not in byte_of for c in text):
                found = text.encode()
            else:
                found = bytes(byte_of[c] for c in text)
            self._bytes[token] = found
        return found

    def piece(self, token: int) -> str:
        """One token's text (special tokens included), for the chat template's markers."""
        return self.token_bytes(token).decode("utf-8", errors="replace") if token >= 0 else ""
