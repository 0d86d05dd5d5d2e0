"""OpenAI's chat and embeddings wire format, to and from LangChain messages.

A request body becomes LangChain messages plus the call options ChatOpenMux
takes per call; an AIMessage (or its chunks) becomes a `chat.completion`
(or `chat.completion.chunk` events). Only the options every provider protocol
accepts pass on; the rest of OpenAI's optional fields are ignored, as most
OpenAI-compatible servers do.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    convert_to_messages,
)

from openmux import _json
from openmux.providers import chosen_tool
from openmux.routing import CallIndexes
from openmux.server._chat_audio import audio_options
from openmux.server._content import check_content
from openmux.server._errors import bad_request

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_RESPONSE_FORMATS = frozenset({"text", "json_object", "json_schema"})
_TOOL_CHOICES = ("none", "auto", "required")
_TOOL_FIELDS = ("tool_choice", "parallel_tool_calls")
_SAMPLING_RANGES = {"temperature": 2, "top_p": 1}
"""Each sampling option's highest value (OpenAI's; the lowest is 0)."""


def completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def to_messages(body: Mapping[str, Any]) -> list[BaseMessage]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise bad_request("'messages' must be a non-empty list", "messages")
    for index, message in enumerate(raw):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise bad_request(
                f"messages[{index}] needs a 'role' of {', '.join(sorted(_ROLES))}",
                f"messages[{index}].role",
            )
        if message["role"] == "tool" and not message.get("tool_call_id"):
            raise bad_request(
                f"messages[{index}] (role 'tool') needs a 'tool_call_id'",
                f"messages[{index}].tool_call_id",
            )
        calls = message.get("tool_calls")
        if calls is not None and not (
            isinstance(calls, list) and all(isinstance(call, dict) for call in calls)
        ):
            raise bad_request(
                f"messages[{index}].tool_calls must be a list of "
                "{'id': ..., 'type': 'function', 'function': {'name': ..., 'arguments': ...}}",
                f"messages[{index}].tool_calls",
            )
        check_content(message.get("content"), f"messages[{index}]")
    messages = []
    for index, message in enumerate(raw):
        try:
            messages.append(_message(message))
        except (ValueError, TypeError, KeyError, NotImplementedError) as exc:
            where = f"messages[{index}]"
            raise bad_request(f"{where} could not be read: {_one_line(exc)}", where) from exc
    return messages


def _one_line(exc: Exception) -> str:
    """What is wrong, on one line: pydantic's validation errors span several."""
    errors = getattr(exc, "errors", None)
    found = errors() if callable(errors) else None
    if found:
        first = found[0]
        field = ".".join(str(part) for part in first.get("loc", ()))
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        return f"{field + ': ' if field else ''}{first.get('msg', 'invalid')}{more}"
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# A message of role and content only is the message LangChain's `convert_to_messages`
# makes of it, built without that function's dispatch (most messages are of this kind).
_PLAIN_ROLES = {"user": HumanMessage, "system": SystemMessage, "assistant": AIMessage}


def _message(message: dict[str, Any]) -> BaseMessage:
    plain = _PLAIN_ROLES.get(message["role"])
    if plain is not None and len(message) == 2 and "content" in message:
        return plain(content=message["content"] or "")
    # Assistant messages with tool calls may hold a null content.
    return convert_to_messages([{**message, "content": message.get("content") or ""}])[0]


def call_options(body: Mapping[str, Any]) -> dict[str, Any]:
    """The per-call options for ChatOpenMux: sampling, limits, tools, output format.
    A value OpenAI would refuse is refused here too, before any provider is asked (each
    would refuse it in turn)."""
    options: dict[str, Any] = {}
    if body.get("n") not in (None, 1):
        raise bad_request("only n=1 is supported", "n")
    for name, highest in _SAMPLING_RANGES.items():
        value = body.get(name)
        if value is not None:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise bad_request(f"'{name}' must be a number", name)
            if not 0 <= value <= highest:
                raise bad_request(f"'{name}' must be between 0 and {highest}", name)
            options[name] = value
    seed = body.get("seed")
    if seed is not None:
        options["seed"] = _integer(seed, "seed")
    limit = body.get("max_completion_tokens")
    if limit is None:  # left out, or sent as null by a client that sends every field
        limit = body.get("max_tokens")
    if limit is not None:
        options["max_tokens"] = _integer(limit, "max_tokens")
        if options["max_tokens"] < 1:
            raise bad_request("'max_tokens' must be at least 1", "max_tokens")
    stop = body.get("stop")
    if stop is not None:
        stop = [stop] if isinstance(stop, str) else stop
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise bad_request("'stop' must be a string or a list of strings", "stop")
        options["stop"] = stop
    if body.get("tools"):
        options.update(_tool_options(body))
    else:  # OpenAI refuses them alone, and so would each provider in turn
        for name in _TOOL_FIELDS:
            if body.get(name) is not None:
                raise bad_request(f"'{name}' is only allowed when 'tools' holds a tool", name)
    response_format = body.get("response_format")
    if response_format is not None:
        _check_response_format(response_format)
        if response_format["type"] != "text":
            options["response_format"] = response_format
    options.update(audio_options(body))
    return options


def is_streamed(body: Mapping[str, Any]) -> bool:
    stream = body.get("stream")
    return stream is not None and _boolean(stream, "stream")


def includes_usage(body: Mapping[str, Any]) -> bool:
    """`stream_options.include_usage`: whether a stream ends with a chunk of its usage."""
    options = body.get("stream_options")
    if options is None:
        return False
    if not is_streamed(body):  # as OpenAI refuses it: a sign the caller meant to stream
        raise bad_request(
            "'stream_options' is only allowed when 'stream' is true", "stream_options"
        )
    if not isinstance(options, dict):
        raise bad_request(
            "'stream_options' must be an object: {\"include_usage\": true}", "stream_options"
        )
    include = options.get("include_usage")
    return include is not None and _boolean(include, "stream_options.include_usage")


def _tool_options(body: Mapping[str, Any]) -> dict[str, Any]:
    tools = body["tools"]
    if not isinstance(tools, list) or not all(_is_function_tool(t) for t in tools):
        raise bad_request(
            "'tools' must be a list of {'type': 'function', 'function': {'name': ..., "
            "'parameters': {...}}}",
            "tools",
        )
    options: dict[str, Any] = {"tools": tools}
    choice = body.get("tool_choice")
    if choice is not None:
        options["tool_choice"] = _tool_choice(choice, {t["function"]["name"] for t in tools})
    parallel = body.get("parallel_tool_calls")
    if parallel is not None:
        options["parallel_tool_calls"] = _boolean(parallel, "parallel_tool_calls")
    return options


def _tool_choice(choice: Any, names: set[str]) -> Any:
    if choice in _TOOL_CHOICES:
        return choice
    if isinstance(choice, dict) and isinstance(choice.get("allowed_tools"), dict):
        return choice  # {"type": "allowed_tools", ...}: passed on for the provider to read
    name = chosen_tool(choice)
    if name is None:
        raise bad_request(
            "'tool_choice' must be none, auto, required or "
            "{'type': 'function', 'function': {'name': ...}}",
            "tool_choice",
        )
    if name not in names:
        message = f"'tool_choice' names {name!r}, which 'tools' does not hold"
        raise bad_request(message, "tool_choice")
    return choice


def _check_response_format(response_format: Any) -> None:
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind not in _RESPONSE_FORMATS:
        raise bad_request(
            "'response_format.type' must be text, json_object or json_schema", "response_format"
        )
    if kind != "json_schema":
        return
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict):
        raise bad_request(
            "'response_format.json_schema' must be an object", "response_format.json_schema"
        )
    if not isinstance(spec.get("name"), str) or not isinstance(spec.get("schema", {}), dict):
        raise bad_request(
            "'response_format.json_schema' needs a 'name' and its 'schema' an object",
            "response_format.json_schema",
        )


def _boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise bad_request(f"'{name}' must be true or false", name)
    return value


def _integer(value: Any, name: str) -> int:
    if not _is_whole(value):
        raise bad_request(f"'{name}' must be an integer", name)
    return value


def _is_function_tool(tool: Any) -> bool:
    function = tool.get("function") if isinstance(tool, dict) else None
    return (
        isinstance(function, dict)
        and tool.get("type") == "function"
        and isinstance(function.get("name"), str)
        and isinstance(function.get("parameters", {}), dict)
    )


# -- answers ---------------------------------------------------------------------------------


def usage_of(message: AIMessage) -> dict[str, int] | None:
    usage = message.usage_metadata
    if not usage:
        return None
    return {
        "prompt_tokens": usage["input_tokens"],
        "completion_tokens": usage["output_tokens"],
        "total_tokens": usage["total_tokens"],
    }


def _tool_calls(message: AIMessage) -> list[dict[str, Any]]:
    calls = [
        {
            "id": call["id"] or "call_" + secrets.token_hex(8),
            "type": "function",
            "function": {"name": call["name"], "arguments": json.dumps(call["args"])},
        }
        for call in message.tool_calls
    ]
    calls += [
        {
            "id": call["id"] or "call_" + secrets.token_hex(8),
            "type": "function",
            "function": {"name": call["name"] or "", "arguments": call["args"] or ""},
        }
        for call in message.invalid_tool_calls
    ]
    return calls


def media_fields(content: str | list[Any]) -> dict[str, Any]:
    """A media answer's blocks where OpenAI clients look for them in a chat completion:
    images as `images` (the field OpenRouter and other gateways fill with the images a
    chat request made), speech as OpenAI's `audio`. Empty for a text answer."""
    if isinstance(content, str):
        return {}
    fields: dict[str, Any] = {}
    for block in content:
        if not (isinstance(block, dict) and block.get("base64")):
            continue
        if block.get("type") == "image":
            url = f"data:{block.get('mime_type') or 'image/png'};base64,{block['base64']}"
            fields.setdefault("images", []).append({"type": "image_url", "image_url": {"url": url}})
        elif block.get("type") == "audio" and "audio" not in fields:
            fields["audio"] = {
                "id": "audio_" + secrets.token_hex(12),
                "data": block["base64"],
                "expires_at": int(time.time()),  # kept nowhere: not to be named in a later turn
                "transcript": "",
            }
    return fields


def completion(message: AIMessage, model: str, answer_id: str) -> dict[str, Any]:
    """A `chat.completion` object. `model` is the model that answered (`PROVIDER:ID`)."""
    calls = _tool_calls(message)
    reply: dict[str, Any] = {"role": "assistant", "content": message.text or None}
    if calls:
        reply["tool_calls"] = calls
    reply.update(media_fields(message.content))
    finish = message.response_metadata.get("finish_reason") or ("tool_calls" if calls else "stop")
    return {
        "id": answer_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": reply, "finish_reason": finish, "logprobs": None}],
        "usage": usage_of(message),
    }


class ChunkWriter:
    """Turns a ChatOpenMux stream into `chat.completion.chunk` SSE events."""

    def __init__(self, model: str, answer_id: str, include_usage: bool) -> None:
        self.model = model
        self.answer_id = answer_id
        self.include_usage = include_usage
        self.created = int(time.time())
        self.usage: dict[str, int] | None = None
        self.finish_reason: str | None = None
        self.saw_tool_calls = False
        self._call_indexes = CallIndexes()
        self._role_sent = False

    def _event(self, payload: dict[str, Any]) -> bytes:
        return b"data: " + _json.dumps(payload) + b"\n\n"

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "id": self.answer_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **extra,
        }

    def delta(self, chunk: AIMessageChunk) -> bytes | None:
        """The event for one chunk, or None when it carries nothing the client sees."""
        if chunk.usage_metadata:
            self.usage = usage_of(chunk)
        finish = chunk.response_metadata.get("finish_reason")
        if finish:
            self.finish_reason = finish
        delta: dict[str, Any] = {}
        if not self._role_sent:
            delta["role"] = "assistant"
        text = chunk.text
        if text:
            delta["content"] = text
        if chunk.tool_call_chunks:
            self.saw_tool_calls = True
            delta["tool_calls"] = [
                {
                    "index": self._call_indexes.of(call.get("index")),
                    **({"id": call["id"], "type": "function"} if call.get("id") else {}),
                    "function": {
                        **({"name": call["name"]} if call.get("name") else {}),
                        "arguments": call.get("args") or "",
                    },
                }
                for call in chunk.tool_call_chunks
            ]
        media = media_fields(chunk.content)
        delta.update(media)
        if not (text or chunk.tool_call_chunks or media):
            return None
        self._role_sent = True
        return self._event(self._chunk([{"index": 0, "delta": delta, "finish_reason": None}]))

    def end(self, metadata: Mapping[str, Any] | None) -> bytes:
        """The finishing events: finish_reason, then usage when asked, then `[DONE]`.

        OpenMux's routing record rides on the last event as `openmux` (headers left
        before the route was known)."""
        finish = self.finish_reason or ("tool_calls" if self.saw_tool_calls else "stop")
        delta = {} if self._role_sent else {"role": "assistant", "content": ""}
        events = [self._chunk([{"index": 0, "delta": delta, "finish_reason": finish}])]
        if self.include_usage:
            events.append(self._chunk([], usage=self.usage))
        if metadata is not None:
            events[-1]["openmux"] = dict(metadata)
        return b"".join(self._event(e) for e in events) + b"data: [DONE]\n\n"


# Fan-out and pinning options a request may add under an `openmux` field (extra_body).
_EXTENSION_OPTIONS = frozenset(
    {"fanout", "combiner", "judge", "min_answers", "member_timeout", "provider"}
)


def openmux_options(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request's own `openmux` options, each of the JSON type it takes."""
    extension = body.get("openmux")
    if extension is None:
        return {}
    if not isinstance(extension, dict) or not set(extension) <= _EXTENSION_OPTIONS:
        raise bad_request(
            f"'openmux' takes an object with: {', '.join(sorted(_EXTENSION_OPTIONS))}",
            "openmux",
        )
    for name, (fits, kind) in _EXTENSION_TYPES.items():
        value = extension.get(name)
        if value is not None and not fits(value):
            raise bad_request(f"'openmux.{name}' must be {kind}", f"openmux.{name}")
    return dict(extension)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# The JSON type of each `openmux` option that ChatOpenMux's own checks take on trust
# (`fanout` has its own check, with the fix).
_EXTENSION_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "provider": (lambda value: isinstance(value, str), "a provider name"),
    "combiner": (lambda value: isinstance(value, str), "a combiner name"),
    "judge": (lambda value: isinstance(value, str), "a model name (PROVIDER:ID)"),
    "min_answers": (_is_whole, "a whole number"),
    "member_timeout": (_is_number, "a number of seconds"),
}


def embedding_texts(given: Any) -> list[str]:
    """An embeddings request's `input` as texts."""
    texts = [given] if isinstance(given, str) else given
    if isinstance(texts, list) and texts and all(isinstance(t, str) and t for t in texts):
        return texts
    if isinstance(texts, list) and texts and all(_token_ids(t) for t in texts):
        raise bad_request(
            "'input' holds token ids, and this server embeds text: send strings "
            "(LangChain's OpenAIEmbeddings: check_embedding_ctx_length=False)",
            "input",
        )
    raise bad_request("'input' must be a non-empty string or list of non-empty strings", "input")


def embedding_dimensions(body: Mapping[str, Any]) -> int | None:
    """The vector size an embeddings request asks for (`dimensions`), if any."""
    dimensions = body.get("dimensions")
    if dimensions is not None and not (_is_whole(dimensions) and dimensions >= 1):
        raise bad_request("'dimensions' must be a whole number of at least 1", "dimensions")
    return dimensions


def check_dimensions(asked: int | None, made: int, model: str) -> None:
    """Vectors of another size than asked break whatever index they go into: refused,
    not shortened (cutting a vector keeps its meaning only for models trained for it)."""
    if asked is not None and asked != made:
        raise bad_request(
            f"'dimensions' cannot be {asked}: {model} makes vectors of {made} dimensions "
            "(leave 'dimensions' out, or ask for that size)",
            "dimensions",
        )


def _token_ids(item: Any) -> bool:
    return isinstance(item, int) or (
        isinstance(item, list) and bool(item) and all(isinstance(i, int) for i in item)
    )
