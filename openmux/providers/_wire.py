"""OpenAI-protocol requests sent as they came: the transport for a request that arrived
as an OpenAI chat-completions body (`openmux serve`).

Turning that body into LangChain messages and back again through langchain-openai
and the OpenAI SDK costs far more CPU than the HTTP exchange itself. For a provider
that speaks the same protocol, the body is sent as it came instead: the model swapped
and the provider's quirks applied (`_quirks.adapt_openai_body`), on the same shared
connection pool, with the same deadlines, first-token and rate-limit header watches as
every other call, but without httpx in between (see `_aio`). The answer comes back as
a LangChain message, so the router's call stage records, accounts and fails over
exactly as for any other model.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.output_parsers.openai_tools import make_invalid_tool_call, parse_tool_call

from openmux import _json
from openmux.providers import _http, _http1
from openmux.providers._failures import failure_from_error_object, failure_from_status
from openmux.providers._finish import FINISH_MARK

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
        # The pool itself, not an httpx client over it: the least CPU per request.
        self._pool = _http.aio_pool(loop) if loop is not None else None
        self._errors = _http.openai_httpx()
        self._timeouts = _http.timeout(
            timeouts.connect, timeouts.first_token, timeouts.total, httpx=self._errors
        ).as_dict()

    def __repr__(self) -> str:  # the headers hold the key
        return f"OpenAIEndpoint({self.url!r})"

    def bound(self, body: Mapping[str, Any]) -> OpenAIBodyCall:
        """A call that sends this body (already adapted to the provider)."""
        return OpenAIBodyCall(self, body)

    async def _send(self, body: Mapping[str, Any]) -> _http1.Answer:
        # Built outside an event loop, it uses the pool of the loop it is called on.
        pool = self._pool or _http.aio_pool(asyncio.get_running_loop())
        content = _json.dumps(body)
        return await pool.send(
            "POST", self.url, self._headers, content, self._timeouts, self._errors
        )

    async def complete(self, body: Mapping[str, Any]) -> AIMessage:
        answer = await self._send(body)
        content = await answer.read()
        if answer.status >= 400:
            raise failure_from_status(answer.status, answer.headers, content)
        data = _json.loads(content)
        if not isinstance(data, dict) or not data.get("choices"):
            error = data.get("error") if isinstance(data, dict) else None
            if isinstance(error, Mapping):
                raise failure_from_error_object(error)
            raise ValueError("the answer has no choices")
        return answer_message(data)

    async def stream(self, body: Mapping[str, Any]) -> AsyncIterator[AIMessageChunk]:
        answer = await self._send(body)
        try:
            if answer.status >= 400:
                content = await answer.read()
                raise failure_from_status(answer.status, answer.headers, content)
            async for line in answer.lines():
                if not line.startswith(_DATA):
                    continue  # blank lines, `event:` lines and keep-alive comments
                data = line[len(_DATA) :].strip()
                if data == _DONE:  # the call stage hears of it from the transport
                    answer.end_in_background()
                    return
                event = _json.loads(data)
                error = event.get("error")
                if isinstance(error, Mapping):
                    raise failure_from_error_object(error)
                yield answer_chunk(event)
                # One read often brings many events: let the loop run between them, so
                # an event already handed on reaches the client before the rest are
                # parsed (and the stream's consumer sees it while the stream is open).
                await asyncio.sleep(0)
        finally:
            answer.release()


class OpenAIBodyCall:
    """A bound OpenAI-protocol request that answers like a chat model: the call stage
    passes its messages too, but the body already holds them (adapted for the provider)."""

    finish_mark = FINISH_MARK

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
    fields = _given(tool_calls=calls, invalid_tool_calls=invalid, usage_metadata=_usage(data))
    return AIMessage(
        content=reply.get("content") or "", response_metadata=metadata, id=data.get("id"), **fields
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
    finish = choice.get("finish_reason")
    fields = _given(
        tool_call_chunks=calls,
        usage_metadata=_usage(event),
        response_metadata={"finish_reason": finish} if finish else None,
    )
    return AIMessageChunk(content=delta.get("content") or "", **fields)


def _given(**fields: Any) -> dict[str, Any]:
    """The fields that hold something: the empty ones are left to the message's defaults,
    which make the same message with less of pydantic's validation (one of these is built
    for every answer and every streamed event)."""
    return {name: value for name, value in fields.items() if value}
