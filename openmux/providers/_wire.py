"""OpenAI-protocol requests sent as they came: the transport for a request that arrived
as an OpenAI chat-completions body (`openmux serve`).

Turning that body into LangChain messages and back again through langchain-openai
and the OpenAI SDK costs far more CPU than the HTTP exchange itself. For a provider
that speaks the same protocol, the body is sent as it came instead: the model swapped
and the provider's quirks applied (`_quirks.adapt_openai_body`), on the same shared
connection pool, with the same first-token deadline and rate-limit header watch as
every other call. The answer comes back as a LangChain message, so the router's call
stage records, accounts and fails over exactly as for any other model.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.output_parsers.openai_tools import make_invalid_tool_call, parse_tool_call

from openmux.providers import _http
from openmux.providers._failures import failure_from_error_object, failure_from_status

if TYPE_CHECKING:
    from openmux.config import ProviderSettings, Timeouts

_DATA = "data:"
_DONE = "[DONE]"


class OpenAIEndpoint:
    """One OpenAI-protocol provider's chat-completions endpoint on one event loop's pool."""

    def __init__(
        self,
        provider: ProviderSettings,
        model: str,
        timeouts: Timeouts,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        self.url = provider.base_url.rstrip("/") + "/chat/completions"
        headers = {"content-type": "application/json", **provider.headers}
        if provider.api_key is not None:
            headers["authorization"] = f"Bearer {provider.api_key.get_secret_value()}"
        self._headers = headers
        self._client = _http.async_client(loop)
        self._timeout = _http.timeout(timeouts.connect, timeouts.first_token, timeouts.total)

    def __repr__(self) -> str:  # the headers hold the key
        return f"OpenAIEndpoint({self.url!r})"

    def bound(self, body: Mapping[str, Any]) -> OpenAIBodyCall:
        """A call that sends this body (already adapted to the provider)."""
        return OpenAIBodyCall(self, body)

    def _request(self, body: Mapping[str, Any]) -> Any:
        content = json.dumps(body, separators=(",", ":")).encode()
        return self._client.build_request(
            "POST", self.url, content=content, headers=self._headers, timeout=self._timeout
        )

    async def complete(self, body: Mapping[str, Any]) -> AIMessage:
        response = await self._client.send(self._request(body))
        if response.status_code >= 400:
            raise failure_from_status(response.status_code, response.headers, response.content)
        data = json.loads(response.content)
        if not isinstance(data, dict) or not data.get("choices"):
            error = data.get("error") if isinstance(data, dict) else None
            if isinstance(error, Mapping):
                raise failure_from_error_object(error)
            raise ValueError("the answer has no choices")
        return answer_message(data)

    async def stream(self, body: Mapping[str, Any]) -> AsyncIterator[AIMessageChunk]:
        response = await self._client.send(self._request(body), stream=True)
        try:
            if response.status_code >= 400:
                content = await response.aread()
                raise failure_from_status(response.status_code, response.headers, content)
            async for line in response.aiter_lines():
                if not line.startswith(_DATA):
                    continue  # blank lines, `event:` lines and keep-alive comments
                data = line[len(_DATA) :].strip()
                if data == _DONE:
                    return
                event = json.loads(data)
                error = event.get("error")
                if isinstance(error, Mapping):
                    raise failure_from_error_object(error)
                yield answer_chunk(event)
        finally:
            await response.aclose()


class OpenAIBodyCall:
    """A bound OpenAI-protocol request that answers like a chat model: the call stage
    passes its messages too, but the body already holds them (adapted for the provider)."""

    def __init__(self, endpoint: OpenAIEndpoint, body: Mapping[str, Any]) -> None:
        self.endpoint = endpoint
        self.body = body

    async def ainvoke(self, messages: list[BaseMessage], config: Any = None, **_: Any) -> AIMessage:
        body = {k: v for k, v in self.body.items() if k not in ("stream", "stream_options")}
        return await self.endpoint.complete(body)

    def astream(
        self, messages: list[BaseMessage], config: Any = None, **_: Any
    ) -> AsyncIterator[AIMessageChunk]:
        # Usage is asked for, as for every streamed call: quotas count its tokens.
        body = {**self.body, "stream": True, "stream_options": {"include_usage": True}}
        return self.endpoint.stream(body)


def _usage(data: Mapping[str, Any]) -> dict[str, int] | None:
    usage = data.get("usage")
    if not isinstance(usage, Mapping):
        return None
    tokens_in = int(usage.get("prompt_tokens") or 0)
    tokens_out = int(usage.get("completion_tokens") or 0)
    total = int(usage.get("total_tokens") or tokens_in + tokens_out)
    return {"input_tokens": tokens_in, "output_tokens": tokens_out, "total_tokens": total}


def answer_message(data: Mapping[str, Any]) -> AIMessage:
    """A `chat.completion` as the AIMessage langchain-openai would make of it."""
    choice = data["choices"][0]
    reply = choice.get("message") or {}
    calls: list[Any] = []
    invalid: list[Any] = []
    for raw in reply.get("tool_calls") or ():
        try:
            calls.append(parse_tool_call(raw, return_id=True))
        except OutputParserException as exc:
            invalid.append(make_invalid_tool_call(raw, str(exc)))
    metadata = {"finish_reason": choice.get("finish_reason"), "model_name": data.get("model")}
    return AIMessage(
        content=reply.get("content") or "",
        tool_calls=calls,
        invalid_tool_calls=invalid,
        usage_metadata=_usage(data),
        response_metadata=metadata,
        id=data.get("id"),
    )


def answer_chunk(event: Mapping[str, Any]) -> AIMessageChunk:
    """A `chat.completion.chunk` event as an AIMessageChunk."""
    choices = event.get("choices") or ()
    choice = choices[0] if choices else {}
    delta = choice.get("delta") or {}
    calls = [
        {
            "name": (call.get("function") or {}).get("name"),
            "args": (call.get("function") or {}).get("arguments"),
            "id": call.get("id"),
            "index": call.get("index"),
        }
        for call in delta.get("tool_calls") or ()
    ]
    metadata = {"finish_reason": choice["finish_reason"]} if choice.get("finish_reason") else {}
    return AIMessageChunk(
        content=delta.get("content") or "",
        tool_call_chunks=calls,  # type: ignore[arg-type]
        usage_metadata=_usage(event),  # type: ignore[arg-type]
        response_metadata=metadata,
    )
