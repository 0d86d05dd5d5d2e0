"""The scripted "model": turns a chat request into a deterministic reply.

It is protocol-neutral. `_openai.py` and `_ollama.py` translate their wire
formats into a `ChatRequest` and render the resulting `Reply`.

Rules, in order:

1. The last message is a tool result: answer in text that quotes the result.
2. Tools are offered and `tool_choice` is not "none": call one tool, with
   arguments synthesised from its JSON schema.
3. A JSON response format is requested: answer with JSON built from the schema
   (or, for plain JSON mode, from the keys quoted in the prompt).
4. Otherwise: the provider's `reply` (a string, or a callable given the raw
   request JSON), by default "Hello from NAME! You said: ...".

Then `stop` strings cut the text and `max_tokens` truncates it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import string
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeAlias

ReplySource: TypeAlias = "str | Callable[[dict[str, Any]], str] | None"

_TOKEN_RE = re.compile(r"\s*\S+|\s+")
_NUMBER_RE = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")
_QUOTED_RE = re.compile(r"(?<!\w)'([^'\n]+?)'(?!\w)|\"([^\"\n]+?)\"|“([^”\n]+?)”")
_IDENT_RE = re.compile(r"^[A-Za-z_][\w-]{0,63}$")
_ALNUM = string.ascii_letters + string.digits


@dataclass
class ToolSpec:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChatRequest:
    """A chat request, independent of the wire protocol."""

    model: str
    messages: list[dict[str, Any]]
    raw: dict[str, Any]
    tools: list[ToolSpec] = field(default_factory=list)
    # None/"auto", "none", "required", or the name of a forced tool
    tool_choice: str | None = None
    json_schema: dict[str, Any] | None = None
    json_mode: bool = False
    stop: list[str] = field(default_factory=list)
    max_tokens: int | None = None


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str = field(default_factory=lambda: new_tool_call_id())

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments, ensure_ascii=False)


@dataclass
class Reply:
    text: str
    tool_calls: list[ToolCall]
    finish_reason: str  # "stop" | "length" | "tool_calls"
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def text_pieces(self) -> list[str]:
        """The text split into streamable pieces (about one token each)."""
        return split_tokens(self.text)


def new_tool_call_id() -> str:
    """`call_` plus 24 alphanumerics, like OpenAI's tool call ids."""
    return "call_" + "".join(secrets.choice(_ALNUM) for _ in range(24))


def split_tokens(text: str) -> list[str]:
    """Split text into word-ish tokens that concatenate back to the text."""
    return _TOKEN_RE.findall(text)


def count_tokens(text: str) -> int:
    return len(split_tokens(text))


def content_text(content: Any) -> str:
    """Plain text of a message content: a string or a list of content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                kind = part.get("type")
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
                elif kind in ("image_url", "image", "input_image"):
                    parts.append("[image]")
                elif kind in ("file", "input_file", "input_audio", "audio"):
                    parts.append(f"[{kind}]")
        return " ".join(p for p in parts if p)
    return str(content)


def count_images(message: dict[str, Any]) -> int:
    content = message.get("content")
    n = len(message.get("images") or [])  # Ollama puts base64 images beside content
    if isinstance(content, list):
        n += sum(
            1
            for p in content
            if isinstance(p, dict) and p.get("type") in ("image_url", "image", "input_image")
        )
    return n


def prompt_tokens(messages: list[dict[str, Any]], tools: list[ToolSpec]) -> int:
    total = 0
    for message in messages:
        total += 3 + count_tokens(content_text(message.get("content")))
        for call in message.get("tool_calls") or []:
            total += count_tokens(json.dumps(call, default=str))
    for spec in tools:
        total += count_tokens(spec.name + " " + spec.description) + 8
    return max(total, 1)


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


# --------------------------------------------------------------------- replies
def make_reply(provider_name: str, request: ChatRequest, reply: ReplySource) -> Reply:
    """Decide what the scripted model answers to `request`."""
    messages = request.messages
    last = messages[-1] if messages else {}
    user_text = last_user_text(messages)
    tool_calls: list[ToolCall] = []
    finish = "stop"

    if last.get("role") == "tool":
        result = content_text(last.get("content")) or "(empty)"
        text = f"The tool returned: {_shorten(result, 200)}"
    elif request.tools and request.tool_choice != "none":
        spec = _pick_tool(request.tools, request.tool_choice, user_text)
        ctx = _SynthContext(user_text, spec.parameters)
        tool_calls = [ToolCall(spec.name, _as_object(ctx.value(spec.parameters, spec.name)))]
        text = ""
        finish = "tool_calls"
    elif request.json_schema is not None:
        ctx = _SynthContext(user_text, request.json_schema)
        text = json.dumps(ctx.value(request.json_schema, "result"), ensure_ascii=False)
    elif request.json_mode:
        keys = [q for q in _quoted(user_text) if _IDENT_RE.match(q)]
        obj: dict[str, Any] = {k: _plausible_string(k, user_text) for k in dict.fromkeys(keys)}
        text = json.dumps(obj or {"response": _default_text(provider_name, messages)})
    elif callable(reply):
        text = str(reply(request.raw))
    elif isinstance(reply, str):
        text = reply
    else:
        text = _default_text(provider_name, messages)

    if not tool_calls:
        text = _apply_stop(text, request.stop)
        if request.max_tokens is not None and request.max_tokens >= 0:
            pieces = split_tokens(text)
            if len(pieces) > request.max_tokens:
                text = "".join(pieces[: request.max_tokens])
                finish = "length"

    if tool_calls:
        completion = sum(count_tokens(c.name + " " + c.arguments_json) for c in tool_calls)
    else:
        completion = count_tokens(text)
    return Reply(
        text=text,
        tool_calls=tool_calls,
        finish_reason=finish,
        prompt_tokens=prompt_tokens(messages, request.tools),
        completion_tokens=max(completion, 1),
    )


def _default_text(provider_name: str, messages: list[dict[str, Any]]) -> str:
    said = _shorten(last_user_text(messages), 60)
    images = sum(count_images(m) for m in messages if m.get("role") == "user")
    text = f"Hello from {provider_name}!"
    if images:
        text += f" I see {images} image{'s' if images > 1 else ''}."
    if said:
        text += f" You said: {said}"
    return text


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _apply_stop(text: str, stop: list[str]) -> str:
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]


def _pick_tool(tools: list[ToolSpec], choice: str | None, user_text: str) -> ToolSpec:
    if choice not in (None, "auto", "required", "none"):
        for spec in tools:
            if spec.name == choice:
                return spec
    lowered = user_text.lower()
    # Prefer the longest tool name mentioned in the prompt ("magic_function_no_args"
    # over "magic_function"), else the first tool.
    mentioned = [s for s in tools if s.name and s.name.lower() in lowered]
    if mentioned:
        return max(mentioned, key=lambda s: len(s.name))
    return tools[0]


def _quoted(text: str) -> list[str]:
    return [next(g for g in m.groups() if g is not None) for m in _QUOTED_RE.finditer(text)]


def _plausible_string(name: str, user_text: str) -> str:
    words = name.replace("_", " ").replace("-", " ").strip() or "value"
    topic = re.findall(r"[A-Za-z]{3,}", user_text)
    return f"A {words} about {topic[-1].lower()}" if topic else f"A sample {words}"


def _as_object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {"value": value}


class _SynthContext:
    """Builds a value valid against a JSON schema, fed by the user's message.

    Integers and numbers are taken from the numbers in the message, in order;
    strings from its quoted phrases, in order; otherwise plausible defaults.
    """

    def __init__(self, user_text: str, root: dict[str, Any]) -> None:
        self.root = root
        self.user_text = user_text
        self.numbers: Iterator[str] = iter(_NUMBER_RE.findall(user_text))
        self.strings: Iterator[str] = iter(_quoted(user_text))
        self.depth = 0

    def value(self, schema: Any, name: str) -> Any:
        if not isinstance(schema, dict):
            return self._string({}, name)
        self.depth += 1
        try:
            if self.depth > 12:  # recursive schemas: stop somewhere
                return None
            return self._value(schema, name)
        finally:
            self.depth -= 1

    def _value(self, schema: dict[str, Any], name: str) -> Any:
        if "$ref" in schema:
            return self.value(self._deref(schema["$ref"]), name)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                options = [
                    o for o in schema[key] if not (isinstance(o, dict) and o.get("type") == "null")
                ]
                return self.value(options[0] if options else schema[key][0], name)
        if schema.get("allOf"):
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                part = (
                    self._deref(part["$ref"]) if isinstance(part, dict) and "$ref" in part else part
                )
                if isinstance(part, dict):
                    merged.update(part)
            return self.value({**merged, **{k: v for k, v in schema.items() if k != "allOf"}}, name)
        kind = schema.get("type")
        if isinstance(kind, list):
            non_null = [k for k in kind if k != "null"]
            kind = non_null[0] if non_null else "null"
        if kind is None:
            if "properties" in schema:
                kind = "object"
            elif "items" in schema:
                kind = "array"
            else:
                kind = "string"
        if kind == "object":
            props = schema.get("properties") or {}
            return {key: self.value(sub, key) for key, sub in props.items()}
        if kind == "array":
            count = max(1, int(schema.get("minItems", 1)))
            maximum = schema.get("maxItems")
            if isinstance(maximum, int):
                count = min(count, maximum)
            return [self.value(schema.get("items", {}), name) for _ in range(count)]
        if kind == "integer":
            return int(self._number(schema, integer=True))
        if kind == "number":
            return self._number(schema, integer=False)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self._string(schema, name)

    def _deref(self, ref: str) -> Any:
        node: Any = self.root
        if not ref.startswith("#"):
            return {}
        for part in ref.lstrip("#").strip("/").split("/"):
            if not part:
                continue
            if not isinstance(node, dict):
                return {}
            node = node.get(part.replace("~1", "/").replace("~0", "~"), {})
        return node

    def _number(self, schema: dict[str, Any], *, integer: bool) -> float:
        raw = next(self.numbers, None)
        value = float(raw) if raw is not None else 1.0
        if integer:
            value = float(math.floor(value)) if value >= 0 else float(math.ceil(value))
        step = 1.0 if integer else 0.5
        lo, hi = schema.get("minimum"), schema.get("maximum")
        xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        if isinstance(xlo, (int, float)) and not isinstance(xlo, bool) and value <= xlo:
            value = xlo + step
        if isinstance(lo, (int, float)) and value < lo:
            value = float(lo)
        if isinstance(xhi, (int, float)) and not isinstance(xhi, bool) and value >= xhi:
            value = xhi - step
        if isinstance(hi, (int, float)) and value > hi:
            value = float(hi)
        return int(value) if integer else value

    def _string(self, schema: dict[str, Any], name: str) -> str:
        fmt = schema.get("format")
        if fmt == "date-time":
            return "2024-01-01T00:00:00Z"
        if fmt == "date":
            return "2024-01-01"
        if fmt == "time":
            return "12:00:00"
        if fmt == "email":
            return "user@example.com"
        if fmt in ("uri", "url"):
            return "https://example.com"
        if fmt == "uuid":
            return "00000000-0000-4000-8000-000000000000"
        text = next(self.strings, None) or _plausible_string(name, self.user_text)
        min_len, max_len = schema.get("minLength"), schema.get("maxLength")
        if isinstance(min_len, int) and len(text) < min_len:
            text = text + "x" * (min_len - len(text))
        if isinstance(max_len, int) and len(text) > max_len:
            text = text[:max_len]
        return text


# ------------------------------------------------------------------ embeddings
def embed(text: str, model: str, dims: int = 16) -> list[float]:
    """A deterministic unit vector for `text` under `model`."""
    values: list[float] = []
    counter = 0
    while len(values) < dims:
        digest = hashlib.sha256(f"{model}\x00{counter}\x00{text}".encode()).digest()
        for (word,) in struct.iter_unpack(">I", digest):
            values.append(word / 0xFFFFFFFF * 2.0 - 1.0)
        counter += 1
    values = values[:dims]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def embedding_inputs(raw: Any) -> list[str]:
    """OpenAI/Ollama embedding `input`: a string, strings, token ids, or lists of ids."""
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list):
        if raw and all(isinstance(x, int) for x in raw):
            return [" ".join(map(str, raw))]
        return [x if isinstance(x, str) else " ".join(map(str, x)) for x in raw]
    return [str(raw)] if raw is not None else []
