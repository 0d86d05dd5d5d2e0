"""ChatOpenAI for servers that speak the OpenAI protocol but are not OpenAI.

ChatOpenAI sends `max_tokens` as `max_completion_tokens`, OpenAI's newer name for it.
Mistral rejects that field (422, extra_forbidden) and other compatible servers
predate it, while every provider in the table takes `max_tokens`. Imported only when
an OpenAI-protocol model is built (langchain_openai is slow to import).

`respond` answers without LangChain's run bookkeeping: the router calls it when nobody
observes the request (it records the attempt itself), which saves the callback and
cache set-up `invoke` pays around every provider call.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import uuid4

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from langchain_openai import ChatOpenAI

from openmux.providers._finish import FINISH_MARK

# Options that only label a LangSmith run; `invoke` drops them before the request.
_RUN_LABELS = ("ls_structured_output_format", "structured_output_format")


class CompatibleChatOpenAI(ChatOpenAI):
    finish_mark: ClassVar[str] = FINISH_MARK

    def _get_request_payload(
        self, input_: LanguageModelInput, *, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        payload: dict[str, Any] = super()._get_request_payload(input_, stop=stop, **kwargs)
        if "max_completion_tokens" in payload:
            payload["max_tokens"] = payload.pop("max_completion_tokens")
        return payload

    def respond(self, messages: list[BaseMessage], **kwargs: Any) -> AIMessage:
        """The answer `invoke(messages, **kwargs)` gives, for a run nobody observes."""
        return _answer(self._generate(messages, **_without_labels(kwargs)))

    async def arespond(self, messages: list[BaseMessage], **kwargs: Any) -> AIMessage:
        return _answer(await self._agenerate(messages, **_without_labels(kwargs)))


def _without_labels(kwargs: dict[str, Any]) -> dict[str, Any]:
    if any(key in kwargs for key in _RUN_LABELS):
        return {k: v for k, v in kwargs.items() if k not in _RUN_LABELS}
    return kwargs


def _answer(result: ChatResult) -> AIMessage:
    """The first generation's message with the metadata `invoke` gives it: the response's
    own fields (model name, token usage) beside the message's."""
    generation = result.generations[0]
    message = generation.message
    assert isinstance(message, AIMessage)
    metadata = {**(generation.generation_info or {}), **message.response_metadata}
    if len(result.generations) == 1 and result.llm_output is not None:
        metadata = {**result.llm_output, **metadata}
    message.response_metadata = metadata
    if message.id is None:
        message.id = f"lc_run-{uuid4()}-0"
    return message
