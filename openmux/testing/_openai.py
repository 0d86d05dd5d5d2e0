"""OpenAI and OpenRouter wire formats: chat requests, answers, streams and errors.

Listings and embeddings are in `_openai_listings`.

References:
- Chat completions, streaming chunks, tools, usage:
  https://platform.openai.com/docs/api-reference/chat
- Errors: https://platform.openai.com/docs/guides/error-codes
- OpenRouter: https://openrouter.ai/docs/api-reference/overview
  errors https://openrouter.ai/docs/api-reference/errors
  streaming https://openrouter.ai/docs/api-reference/streaming
"""

from __future__ import annotations

import json
import secrets
import string
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from openmux.testing._scripted import (
    ChatRequest,
    Reply,
    ToolSpec,
)

if TYPE_CHECKING:
    pass

Flavor = Literal["openai", "openrouter"]

_ALNUM = string.ascii_letters + string.digits

# What OpenAI puts in `error.type` / `error.code` for common statuses.
_OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
    ),
    402: ("insufficient_quota", "insufficient_quota", "Insufficient credits."),
    403: ("permission_error", None, "You are not allowed to sample from this model."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    408: ("timeout", None, "Request timed out."),
    413: ("invalid_request_error", None, "Request too large."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again later.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Gateway timeout."),
}

# OpenRouter's documented meanings of error codes.
_OPENROUTER_MESSAGES: dict[int, str] = {
    400: "Bad Request (invalid or missing params, CORS)",
    401: "Invalid credentials (OAuth session expired, disabled/invalid API key)",
    402: "Your account or API key has insufficient credits. Add more credits and retry.",
    403: "Your chosen model requires moderation and your input was flagged",
    408: "Your request timed out",
    429: "You are being rate limited",
    502: "Your chosen model is down or we received an invalid response from it",
    503: "There is no available model provider that meets your routing requirements",
}


def completion_id(flavor: Flavor) -> str:
    if flavor == "openrouter":
        return f"gen-{int(time.time())}-" + "".join(secrets.choice(_ALNUM) for _ in range(20))
    return "chatcmpl-" + "".join(secrets.choice(_ALNUM) for _ in range(29))


# ---------------------------------------------------------------- requests
def parse_chat(body: Mapping[str, Any], default_model: str) -> ChatRequest:
    """Read an OpenAI-style chat completion request."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    tools: list[ToolSpec] = []
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        fn: dict[str, Any] = tool["function"] if isinstance(tool.get("function"), dict) else tool
        name = fn.get("name")
        if isinstance(name, str):
            params = fn.get("parameters") or fn.get("input_schema") or {}
            tools.append(ToolSpec(name, str(fn.get("description") or ""), params))
    choice = body.get("tool_choice")
    tool_choice: str | None
    if isinstance(choice, dict):
        forced = choice.get("function")
        if isinstance(forced, dict) and isinstance(forced.get("name"), str):
            tool_choice = forced["name"]
        elif isinstance(choice.get("name"), str):  # {"type": "tool", "name": ...}
            tool_choice = choice["name"]
        elif choice.get("type") == "any":
            tool_choice = "required"
        else:
            tool_choice = "auto"
    elif isinstance(choice, str):
        tool_choice = "required" if choice == "any" else choice
    else:
        tool_choice = None
    json_schema: dict[str, Any] | None = None
    json_mode = False
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        if fmt.get("type") == "json_schema":
            block = fmt.get("json_schema") or {}
            schema = block.get("schema") if isinstance(block, dict) else None
            json_schema = schema if isinstance(schema, dict) else {}
        elif fmt.get("type") == "json_object":
            json_mode = True
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else [s for s in stop or [] if isinstance(s, str)]
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    return ChatRequest(
        model=str(body.get("model") or default_model),
        messages=messages,
        raw=dict(body),
        tools=tools,
        tool_choice=tool_choice,
        json_schema=json_schema,
        json_mode=json_mode,
        stop=stops,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
    )


# --------------------------------------------------------------- responses
def usage(reply: Reply, flavor: Flavor) -> dict[str, Any]:
    data: dict[str, Any] = {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.total_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    if flavor == "openrouter":
        data["cost"] = 0
        data["is_byok"] = False
    return data


def completion(
    reply: Reply,
    model: str,
    flavor: Flavor,
    provider_name: str,
    *,
    text: str | None = None,
    finish_reason: str | None = None,
    error: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A non-streaming `chat.completion` object."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": (reply.text if text is None else text) if not reply.tool_calls else None,
        "refusal": None,
        "annotations": [],
    }
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json},
            }
            for call in reply.tool_calls
        ]
    choice: dict[str, Any] = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": finish_reason or reply.finish_reason,
    }
    body: dict[str, Any] = {
        "id": completion_id(flavor),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": usage(reply, flavor),
    }
    if flavor == "openrouter":
        body["provider"] = provider_name
        choice["native_finish_reason"] = choice["finish_reason"]
        message["reasoning"] = None
    else:
        body["service_tier"] = "default"
        body["system_fingerprint"] = "fp_openmux_fake"
    if error is not None:
        body["error"] = dict(error)
    return body


class ChunkMaker:
    """Builds the `chat.completion.chunk` objects of one streamed answer."""

    def __init__(self, model: str, flavor: Flavor, provider_name: str, include_usage: bool):
        self.id = completion_id(flavor)
        self.created = int(time.time())
        self.model = model
        self.flavor = flavor
        self.provider_name = provider_name
        # OpenRouter always reports usage in its last chunk; OpenAI only when
        # asked with stream_options.include_usage (then every chunk has "usage": null).
        self.include_usage = include_usage or flavor == "openrouter"

    def chunk(
        self, delta: dict[str, Any] | None, finish_reason: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if self.flavor == "openrouter":
            body["provider"] = self.provider_name
            if delta is not None:
                body["choices"][0]["native_finish_reason"] = finish_reason
        else:
            body["system_fingerprint"] = "fp_openmux_fake"
        if self.include_usage:
            body["usage"] = None
        return body

    def content_chunks(self, reply: Reply) -> list[dict[str, Any]]:
        """Role chunk, then content or tool-call deltas (no finish chunk yet)."""
        if reply.tool_calls:
            chunks = [self.chunk({"role": "assistant", "content": None})]
            for index, call in enumerate(reply.tool_calls):
                chunks.append(
                    self.chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": index,
                                    "id": call.id,
                                    "type": "function",
                                    "function": {"name": call.name, "arguments": ""},
                                }
                            ]
                        }
                    )
                )
                args = call.arguments_json
                for start in range(0, len(args), 8):
                    chunks.append(
                        self.chunk(
                            {
                                "tool_calls": [
                                    {
                                        "index": index,
                                        "function": {"arguments": args[start : start + 8]},
                                    }
                                ]
                            }
                        )
                    )
            return chunks
        chunks = [self.chunk({"role": "assistant", "content": "", "refusal": None})]
        chunks.extend(self.chunk({"content": piece}) for piece in reply.text_pieces())
        return chunks

    def finish_chunks(self, reply: Reply) -> list[dict[str, Any]]:
        chunks = [self.chunk({}, reply.finish_reason)]
        if self.include_usage:
            last = self.chunk(None)
            last["usage"] = usage(reply, self.flavor)
            chunks.append(last)
        return chunks

    def error_chunk(self, code: int | str | None, message: str) -> dict[str, Any]:
        """OpenRouter's mid-stream error: top-level `error`, finish_reason "error"."""
        body = self.chunk({"content": ""}, "error")
        body["error"] = {"code": code if code is not None else "server_error", "message": message}
        return body


def sse(data: Mapping[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {payload}\n\n".encode()


SSE_DONE = b"data: [DONE]\n\n"
SSE_PROCESSING = b": OPENROUTER PROCESSING\n\n"
SSE_KEEPALIVE = b": keep-alive\n\n"


def error_body(
    status: int,
    flavor: Flavor,
    message: str | None = None,
    *,
    code: int | str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON error body for an HTTP status, OpenAI or OpenRouter style."""
    if flavor == "openrouter":
        error: dict[str, Any] = {
            "code": code if code is not None else status,
            "message": message or _OPENROUTER_MESSAGES.get(status, f"HTTP {status}"),
        }
        if metadata is not None:
            error["metadata"] = dict(metadata)
        return {"error": error}
    kind, default_code, default_message = _OPENAI_ERRORS.get(
        status,
        ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status}"),
    )
    return {
        "error": {
            "message": message or default_message,
            "type": kind,
            "param": None,
            "code": code if code is not None else default_code,
        }
    }


def loading_body(message: str = "Loading model") -> dict[str, Any]:
    """What a llama.cpp server answers (HTTP 503) while it loads its model."""
    return {"error": {"code": 503, "message": message, "type": "unavailable_error"}}
