"""What every local runtime shares: the reply loop, stop sequences, limits and errors.

A runtime (llama.cpp or numpy) turns prompt tokens into a stream of next
tokens; `LocalModel.chat` renders the conversation with the model's chat
template, checks it fits the context window, and turns the token stream into
text chunks, cut at end-of-turn tokens, stop sequences, `max_tokens` and the
deadline. The model's lock is held from the first prompt token to the last
generated one: neither runtime's state may be shared by two generations.
"""

from __future__ import annotations

import codecs
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openmux.errors import OpenMuxError
from openmux.local._chat_template import ChatTemplate

__all__ = [
    "GenerationChunk",
    "LocalContextLengthError",
    "LocalGenerationTimeout",
    "LocalModel",
    "Sampling",
]


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

    def counting(self, earlier: GenerationChunk) -> GenerationChunk:
        """This chunk, and when it is the last one, with an earlier generation's tokens
        added (a tool choice made before the reply)."""
        if self.finish_reason is None:
            return self
        return GenerationChunk(
            self.text,
            finish_reason=self.finish_reason,
            prompt_tokens=self.prompt_tokens + earlier.prompt_tokens,
            completion_tokens=self.completion_tokens + earlier.completion_tokens,
        )


@dataclass(frozen=True)
class Sampling:
    """How the next token is picked. Temperature 0 is greedy."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    repeat_penalty: float = 1.0
    seed: int | None = None


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


class LocalModel(ABC):
    """A GGUF model loaded by one runtime, with its chat template and a lock."""

    #: Which runtime serves the model: "llama.cpp" or "numpy"; reported in metadata.
    runtime: str
    #: Whether `grammar_for` can constrain output to a JSON schema.
    supports_grammar: bool
    #: The token that ends the model's turn.
    end_token: int

    def __init__(self, path: Path, *, n_ctx: int, n_threads: int, name: str) -> None:
        self.path = path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.name = name
        self.lock = threading.Lock()
        self.load_seconds = 0.0

    @property
    @abstractmethod
    def template(self) -> ChatTemplate: ...

    @property
    def chat_template(self) -> str:
        return self.template.source

    @abstractmethod
    def tokenize_prompt(self, prompt: str) -> list[int]:
        """Prompt tokens, special markers recognised, BOS added when the model wants it."""

    @abstractmethod
    def count_tokens(self, text: str) -> int: ...

    @abstractmethod
    def token_bytes(self, token: int) -> bytes:
        """The bytes one generated token stands for (a UTF-8 character may span tokens)."""

    @abstractmethod
    def is_end(self, token: int) -> bool:
        """Whether the token ends the turn (EOS, end-of-turn)."""

    @abstractmethod
    def generate(self, prompt_tokens: list[int], sampling: Sampling, grammar: Any) -> Iterator[int]:
        """Next tokens, one at a time, for as long as the caller reads; closable."""

    @abstractmethod
    def forget_prompt(self) -> None:
        """Drop the cached prompt, so the next one is evaluated from its first token."""

    def grammar_for(self, response_format: Mapping[str, Any] | None) -> Any:
        """A grammar for an OpenAI-style `response_format`; None where there is none."""
        return None

    @abstractmethod
    def next_logits(self, tokens: list[int]) -> Any:
        """The logits (a 1-D float array) of the token after `tokens`, reusing the
        cached prompt where it matches. Call with the lock held."""

    def choose(
        self,
        messages: Sequence[Mapping[str, str]],
        options: Sequence[str],
        *,
        reply_prefix: str = "",
        deadline: float | None = None,
    ) -> GenerationChunk:
        """The option the model ranks first as its reply (after `reply_prefix`).

        Each option is tokenized as it would be written, and the choice follows
        the model's likeliest token wherever the options part, so the reply is
        exactly one option: a grammar over a few strings, read on each option's
        own tokens (allowing any spelling lets a one-letter token such as "a"
        win for reasons that have nothing to do with the option it starts).
        Usually one forward pass decides.
        """
        if not options:
            raise ValueError("choose() needs at least one option")
        with self.lock:
            start = self.render(messages) + reply_prefix
            spelled = [self.tokenize_prompt(start + option) for option in options]
            alive = list(range(len(options)))
            position = passes = 0
            while len(alive) > 1:
                while all(len(spelled[i]) > position for i in alive) and (
                    len({spelled[i][position] for i in alive}) == 1
                ):
                    position += 1
                if position >= self.n_ctx:
                    raise LocalContextLengthError(position + 1, self.n_ctx)
                if deadline is not None and time.monotonic() > deadline:
                    raise LocalGenerationTimeout("local generation passed its timeout")
                logits = self.next_logits(spelled[alive[0]][:position])
                passes += 1
                ended = [i for i in alive if len(spelled[i]) == position]
                going = {spelled[i][position] for i in alive if len(spelled[i]) > position}
                best = max(going, key=lambda token: logits[token])
                if ended and logits[self.end_token] >= logits[best]:
                    alive = ended[:1]
                else:
                    alive = [i for i in alive if i not in ended and spelled[i][position] == best]
            shared = min(len(tokens) for tokens in spelled)
            for i, tokens in enumerate(zip(*spelled, strict=False)):
                if len(set(tokens)) > 1:
                    shared = i
                    break
            return GenerationChunk(
                options[alive[0]],
                finish_reason="stop",
                prompt_tokens=shared,
                completion_tokens=passes,
            )

    def render(self, messages: Sequence[Mapping[str, str]]) -> str:
        """The prompt text the model's chat template makes of these messages."""
        return self.template.render(messages)

    def chat(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int | None,
        sampling: Sampling,
        stop: Sequence[str] = (),
        grammar: Any = None,
        deadline: float | None = None,
        reply_prefix: str = "",
    ) -> Iterator[GenerationChunk]:
        """Generate a reply, yielding text as it decodes; the lock is held throughout.

        `reply_prefix` starts the assistant's reply (it is not repeated in the
        output). The last chunk carries `finish_reason` and the token counts.
        """
        with self.lock:
            prompt_tokens = self.tokenize_prompt(self.render(messages) + reply_prefix)
            room = self.n_ctx - len(prompt_tokens)
            if room <= 0:
                raise LocalContextLengthError(len(prompt_tokens), self.n_ctx)
            budget = room if max_tokens is None else max(0, min(max_tokens, room))
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            stops = _StopFilter(stop)
            finish = "length"
            hit_stop = False
            count = 0
            started = bool(reply_prefix)  # strip the leading space some tokenizers put first
            if budget > 0:
                tokens = self.generate(prompt_tokens, sampling, grammar)
                try:
                    for token in tokens:
                        if self.is_end(token):
                            finish = "stop"
                            break
                        count += 1
                        text = decoder.decode(self.token_bytes(token))
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
                    close = getattr(tokens, "close", None)
                    if close is not None:
                        close()
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
