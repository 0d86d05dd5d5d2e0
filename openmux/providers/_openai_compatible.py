"""ChatOpenAI for servers that speak the OpenAI protocol but are not OpenAI.

ChatOpenAI sends `max_tokens` as `max_completion_tokens`, OpenAI's newer name for it.
Mistral rejects that field (422, extra_forbidden) and other compatible servers
predate it, while every provider in the table takes `max_tokens`. Imported only when
an OpenAI-protocol model is built (langchain_openai is slow to import).
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_openai import ChatOpenAI


class CompatibleChatOpenAI(ChatOpenAI):
    def _get_request_payload(
        self, input_: LanguageModelInput, *, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        payload: dict[str, Any] = super()._get_request_payload(input_, stop=stop, **kwargs)
        if "max_completion_tokens" in payload:
            payload["max_tokens"] = payload.pop("max_completion_tokens")
        return payload
