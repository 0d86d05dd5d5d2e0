"""llama.cpp in process: load a GGUF file once, generate token by token.

A loaded model is cached per (path, n_ctx, n_threads) for the life of the
process. A llama.cpp context is not thread-safe, so every generation holds
the model's lock from the first prompt token to the last generated one.
"""

from __future__ import annotations

import codecs
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from openmux.errors import OpenMuxError
from openmux.local._bundled import CHAT_RUNTIME_MODULE, LocalModelUnavailable
from openmux.local._gguf import GGUFError, read_gguf_metadata
from openmux.local.hardware import detect_hardware, recommended_n_ctx, recommended_n_threads

__all__ = [
    "GenerationChunk",
    "LocalContextLengthError",
    "LocalGenerationTimeout",
    "LocalModel",
    "get_local_model",
]

# Used when a GGUF file carries no chat template.
_CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class LocalContextLengthError(OpenMuxError, ValueError):
    """The prompt does not fit in the local model's context window."""

    def __init__(self, prompt_tokens: int, n_ctx: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.n_ctx = n_ctx
        super().__init__(
            f"the prompt has {prompt_tokens} tokens but the local model's context "
            f"window is {n_ctx} tokens; shorten the conversation or raise n_ctx"
        )


class LocalGenerationTimeout(OpenMuxError, TimeoutError):
    """Local generation ran past its `timeout`."""


@dataclass
class GenerationChunk:
    """A piece of generated text; the last one also says why and how much."""

    text: str
    finish_reason: str | None = None  # "stop" | "length" on the last chunk
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _import_runtime() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise LocalModelUnavailable(
            f"the local model runtime ({CHAT_RUNTIME_MODULE}, from llama-cpp-python) "
            f"is not installed"
        ) from exc
    return llama_cpp


def _kv_bytes_per_token(meta: Mapping[str, Any]) -> int | None:
    """f16 K and V cache bytes per token, from the model's shape."""
    arch = meta.get("general.architecture")
    try:
        layers = int(meta[f"{arch}.block_count"])
        embd = int(meta[f"{arch}.embedding_length"])
        heads = int(meta[f"{arch}.attention.head_count"])
        kv_heads = int(meta.get(f"{arch}.attention.head_count_kv", heads))
    except (KeyError, TypeError, ValueError):
        return None
    return 2 * layers * (embd // heads) * kv_heads * 2


class _StopFilter:
    """Holds back text that may be the start of a stop sequence."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self.pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """(text safe to emit, whether a stop sequence was hit)."""
        self.pending += text
        if not self.stops:
            out, self.pending = self.pending, ""
            return out, False
        hits = [i for i in (self.pending.find(s) for s in self.stops) if i >= 0]
        if hits:
            out, self.pending = self.pending[: min(hits)], ""
            return out, True
        keep = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(self.pending)), 0, -1):
                if self.pending.endswith(stop[:n]):
                    keep = max(keep, n)
                    break
        cut = len(self.pending) - keep
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return out, False

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


class LocalModel:
    """One GGUF model loaded into llama.cpp, with its chat template and a lock."""

    def __init__(self, path: Path, *, n_ctx: int | None, n_threads: int | None) -> None:
        llama_cpp = _import_runtime()
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.path = path
        try:
            header = read_gguf_metadata(path)
        except (OSError, GGUFError):
            header = {}
        arch = header.get("general.architecture")
        train_ctx = header.get(f"{arch}.context_length")
        hardware = detect_hardware()
        self.n_threads = n_threads or recommended_n_threads(hardware)
        self.n_ctx = n_ctx or recommended_n_ctx(
            hardware,
            train_ctx=int(train_ctx) if train_ctx else None,
            kv_bytes_per_token=_kv_bytes_per_token(header),
        )
        gpu_layers = 0
        if hardware.gpu and llama_cpp.llama_supports_gpu_offload():
            gpu_layers = -1
        started = time.perf_counter()
        self.llm = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=self.n_ctx,
            n_batch=min(512, self.n_ctx),
            n_threads=self.n_threads,
            n_threads_batch=self.n_threads,
            n_gpu_layers=gpu_layers,
            verbose=False,
        )
        self.load_seconds = time.perf_counter() - started
        self.lock = threading.Lock()
        meta: dict[str, str] = dict(self.llm.metadata)
        self.metadata = meta
        self.name = meta.get("general.name") or path.stem
        self._eos = self.llm.token_eos()
        self._bos = self.llm.token_bos()
        self.eos_text = self._piece(self._eos)
        self.bos_text = self._piece(self._bos)
        self.add_bos = str(meta.get("tokenizer.ggml.add_bos_token", "false")).lower() == "true"
        self._end_ids = {self._eos}
        for key in ("tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"):
            if meta.get(key, "").lstrip("-").isdigit():
                self._end_ids.add(int(meta[key]))
        vocab = getattr(getattr(self.llm, "_model", None), "vocab", None)
        is_eog = getattr(llama_cpp, "llama_vocab_is_eog", None)
        self._is_eog = (lambda tok: bool(is_eog(vocab, tok))) if vocab and is_eog else None
        self.chat_template = meta.get("tokenizer.chat_template") or _CHATML_TEMPLATE
        self._formatter = Jinja2ChatFormatter(
            template=self.chat_template, eos_token=self.eos_text, bos_token=self.bos_text
        )
        self._llama_cpp = llama_cpp
        self._grammars: dict[str, Any] = {}

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

    def render(self, messages: Sequence[Mapping[str, str]]) -> str:
        """The prompt text the model's chat template makes of these messages."""
        return self._formatter(messages=cast(Any, list(messages))).prompt

    def tokenize_prompt(self, prompt: str) -> list[int]:
        add_bos = self.add_bos and not (self.bos_text and prompt.startswith(self.bos_text))
        return list(self.llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True))

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def chat(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int | None,
        temperature: float,
        top_p: float,
        top_k: int,
        repeat_penalty: float,
        stop: Sequence[str] = (),
        seed: int | None = None,
        grammar: Any = None,
        deadline: float | None = None,
    ) -> Iterator[GenerationChunk]:
        """Generate a reply, yielding text as it decodes; the lock is held throughout.

        The last chunk carries `finish_reason` and the token counts.
        """
        with self.lock:
            prompt_tokens = self.tokenize_prompt(self.render(messages))
            room = self.n_ctx - len(prompt_tokens)
            if room <= 0:
                raise LocalContextLengthError(len(prompt_tokens), self.n_ctx)
            budget = room if max_tokens is None else max(0, min(max_tokens, room))
            if seed is not None:
                self.llm.set_seed(seed)
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            stops = _StopFilter(stop)
            finish = "length"
            hit_stop = False
            count = 0
            started = False  # strip the leading space some tokenizers put first
            if budget > 0:
                tokens = self.llm.generate(
                    prompt_tokens,
                    temp=temperature,
                    top_p=top_p,
                    top_k=top_k,
                    repeat_penalty=repeat_penalty,
                    grammar=grammar,
                )
                try:
                    for token in tokens:
                        if self.is_end(token):
                            finish = "stop"
                            break
                        count += 1
                        text = decoder.decode(self.llm.detokenize([token], special=False))
                        if not started:
                            text = text.lstrip()
                            started = bool(text)
                        out, hit_stop = stops.feed(text)
                        if out:
                            yield GenerationChunk(out)
                        if hit_stop:
                            finish = "stop"
                            break
                        if count >= budget:
                            break
                        if deadline is not None and time.monotonic() > deadline:
                            raise LocalGenerationTimeout(
                                f"local generation passed its timeout after {count} tokens"
                            )
                finally:
                    tokens.close()
            last = ""
            if not hit_stop:
                last, hit_stop = stops.feed(decoder.decode(b"", final=True))
                if not hit_stop:
                    last += stops.flush()
            yield GenerationChunk(
                last,
                finish_reason=finish,
                prompt_tokens=len(prompt_tokens),
                completion_tokens=count,
            )


_CACHE: dict[tuple[str, int | None, int | None], LocalModel] = {}
_CACHE_LOCK = threading.Lock()


def get_local_model(path: Path, *, n_ctx: int | None, n_threads: int | None) -> LocalModel:
    """The process-wide loaded model for these settings, loading it on first use."""
    key = (str(path.resolve()), n_ctx, n_threads)
    model = _CACHE.get(key)
    if model is not None:
        return model
    with _CACHE_LOCK:
        model = _CACHE.get(key)
        if model is None:
            model = LocalModel(path, n_ctx=n_ctx, n_threads=n_threads)
            _CACHE[key] = model
        return model
