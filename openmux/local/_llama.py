"""llama.cpp in process (the `local-fast` extra): load a GGUF file once, generate token by token.

llama-cpp-python keeps the last prompt's tokens in its context and reuses the
shared prefix by itself. Its grammars make structured output follow a JSON
schema token by token, which the numpy runtime cannot do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from openmux.local._bundled import CHAT_RUNTIME_MODULE, FAST_INSTALL_HINT, LocalModelUnavailable
from openmux.local._chat_template import ChatTemplate
from openmux.local._generation import LocalModel, Sampling
from openmux.local._gguf import GGUFError, read_gguf_metadata
from openmux.local.hardware import detect_hardware, kv_cache_bytes_per_token, recommended_n_ctx

__all__ = ["LlamaCppModel", "llama_cpp_importable"]


def _import_runtime() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise LocalModelUnavailable(
            f"the llama.cpp runtime ({CHAT_RUNTIME_MODULE}, from llama-cpp-python) "
            f"is not installed",
            hint=FAST_INSTALL_HINT,
        ) from exc
    return llama_cpp


def llama_cpp_importable() -> bool:
    """Whether llama-cpp-python imports (it is installed and its library loads)."""
    try:
        _import_runtime()
    except (LocalModelUnavailable, OSError):
        return False
    return True


class LlamaCppModel(LocalModel):
    """One GGUF model loaded into llama.cpp."""

    runtime = "llama.cpp"
    supports_grammar = True

    def __init__(self, path: Path, *, n_ctx: int | None, n_threads: int) -> None:
        llama_cpp = _import_runtime()
        try:
            header = read_gguf_metadata(path)
        except (OSError, GGUFError):
            header = {}
        arch = header.get("general.architecture")
        train_ctx = header.get(f"{arch}.context_length")
        hardware = detect_hardware()
        n_ctx = n_ctx or recommended_n_ctx(
            hardware,
            train_ctx=int(train_ctx) if train_ctx else None,
            kv_bytes_per_token=kv_cache_bytes_per_token(header, value_bytes=2),  # f16 cache
        )
        gpu_layers = 0
        if hardware.gpu and llama_cpp.llama_supports_gpu_offload():
            gpu_layers = -1
        started = time.perf_counter()
        self.llm = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_batch=min(512, n_ctx),
            n_threads=n_threads,
            n_threads_batch=n_threads,
            n_gpu_layers=gpu_layers,
            verbose=False,
        )
        meta: dict[str, str] = dict(self.llm.metadata)
        super().__init__(
            path, n_ctx=n_ctx, n_threads=n_threads, name=meta.get("general.name") or path.stem
        )
        self.load_seconds = time.perf_counter() - started
        self.metadata = meta
        self._eos = self.end_token = self.llm.token_eos()
        self._bos = self.llm.token_bos()
        self.bos_text = self._piece(self._bos)
        self.add_bos = str(meta.get("tokenizer.ggml.add_bos_token", "false")).lower() == "true"
        self._end_ids = {self._eos}
        for key in ("tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"):
            if meta.get(key, "").lstrip("-").isdigit():
                self._end_ids.add(int(meta[key]))
        vocab = getattr(getattr(self.llm, "_model", None), "vocab", None)
        is_eog = getattr(llama_cpp, "llama_vocab_is_eog", None)
        self._is_eog = (lambda tok: bool(is_eog(vocab, tok))) if vocab and is_eog else None
        self._template = ChatTemplate(
            meta.get("tokenizer.chat_template"),
            bos_text=self.bos_text,
            eos_text=self._piece(self._eos),
        )
        self._grammars: dict[str, Any] = {}

    @property
    def template(self) -> ChatTemplate:
        return self._template

    def grammar_for(self, response_format: Mapping[str, Any] | None) -> Any:
        """A llama.cpp grammar for an OpenAI-style `response_format`, cached by schema."""
        if not response_format or response_format.get("type") == "text":
            return None
        kind = response_format.get("type")
        if kind == "json_object":
            key = "json_object"
        elif kind == "json_schema":
            schema = response_format.get("schema") or response_format.get("json_schema", {})
            if isinstance(schema, Mapping) and "schema" in schema:
                schema = schema["schema"]  # OpenAI's {"name", "schema"} wrapper
            key = json.dumps(schema, sort_keys=True)
        else:
            raise ValueError(f"unsupported response_format type {kind!r}")
        grammar = self._grammars.get(key)
        if grammar is None:
            from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

            if key == "json_object":
                grammar = LlamaGrammar.from_string(JSON_GBNF, verbose=False)
            else:
                grammar = LlamaGrammar.from_json_schema(key, verbose=False)
            self._grammars[key] = grammar
        return grammar

    def _piece(self, token: int) -> str:
        if token < 0:
            return ""
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def is_end(self, token: int) -> bool:
        if self._is_eog is not None:
            return self._is_eog(token)
        return token in self._end_ids

    def tokenize_prompt(self, prompt: str) -> list[int]:
        add_bos = self.add_bos and not (self.bos_text and prompt.startswith(self.bos_text))
        return list(self.llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True))

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def token_bytes(self, token: int) -> bytes:
        return bytes(self.llm.detokenize([token], special=False))

    def forget_prompt(self) -> None:
        self.llm.reset()

    def next_logits(self, tokens: list[int]) -> Any:
        import numpy as np
        from llama_cpp import llama_get_logits_ith

        llm = self.llm
        shared = 0
        for cached, new in zip(llm.input_ids[: llm.n_tokens], tokens, strict=False):
            if cached != new:
                break
            shared += 1
        # What Llama.generate does with its prompt: keep the shared prefix, evaluate the
        # rest (at least the last token, whose logits are read).
        llm.n_tokens = min(shared, len(tokens) - 1)
        llm.eval(tokens[llm.n_tokens :])
        logits = llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(logits, shape=(llm.n_vocab(),)).copy()

    def generate(self, prompt_tokens: list[int], sampling: Sampling, grammar: Any) -> Iterator[int]:
        if sampling.seed is not None:
            self.llm.set_seed(sampling.seed)
        return self.llm.generate(
            prompt_tokens,
            temp=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,
            # With a penalty in its sampler chain, llama-cpp-python 0.3 let tokens the
            # grammar forbids through (seen on 0.3.36: a JSON-schema grammar, greedy,
            # penalty 1.1, produced an unterminated string and prose): no penalty then.
            repeat_penalty=1.0 if grammar is not None else sampling.repeat_penalty,
            grammar=grammar,
        )
