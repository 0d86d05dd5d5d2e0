"""Render a GGUF file's chat template (Jinja2, sandboxed) into a prompt string.

Both runtimes use this, so a conversation becomes the same prompt whichever
runtime serves it. The environment matches the one Hugging Face's and
llama.cpp's Python bindings give templates: trimmed blocks, `raise_exception`
and `strftime_now` as globals.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import BaseLoader
from jinja2.sandbox import ImmutableSandboxedEnvironment

from openmux.errors import InvalidRequest

__all__ = ["CHATML_TEMPLATE", "ChatTemplate", "LocalConversationRefused"]

# Used when a GGUF file carries no chat template.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class LocalConversationRefused(InvalidRequest, ValueError):
    """The conversation cannot be put to the local model (a content block it cannot read,
    a turn its chat template refuses, a tool_choice naming no bound tool): found before
    generating, so the model is not to blame for it."""


def _raise_exception(message: str) -> None:
    raise LocalConversationRefused(f"the model's chat template refused the conversation: {message}")


def _strftime_now(fmt: str) -> str:
    return datetime.datetime.now().strftime(fmt)


class ChatTemplate:
    """A compiled chat template with the model's BOS and EOS texts."""

    def __init__(self, source: str | None, *, bos_text: str, eos_text: str) -> None:
        self.source = source or CHATML_TEMPLATE
        env = ImmutableSandboxedEnvironment(
            loader=BaseLoader(), trim_blocks=True, lstrip_blocks=True
        )
        env.globals.update(raise_exception=_raise_exception, strftime_now=_strftime_now)
        self._template = env.from_string(self.source)
        self._bos_text = bos_text
        self._eos_text = eos_text

    def render(self, messages: Sequence[Mapping[str, Any]]) -> str:
        """The prompt for these messages, ending where the assistant's reply starts."""
        return self._template.render(
            messages=list(messages),
            bos_token=self._bos_text,
            eos_token=self._eos_text,
            add_generation_prompt=True,
        )
