"""JSON answers from a local model, constrained where the runtime can, checked always.

llama.cpp constrains output to a JSON schema with a grammar. The numpy runtime
cannot, so it asks: the schema goes into the system prompt, the reply is
written key by key (the keys and punctuation are ours, the values the model's)
and checked against the schema; a reply that does not fit is shown back to the
model with what is wrong, once. A tool call's arguments are structured output
like any other (which tool to call is chosen in `_tools`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from openmux.errors import OpenMuxError
from openmux.local._generation import GenerationChunk, LocalModel, Sampling

__all__ = [
    "LocalStructuredOutputError",
    "LocalToolsUnsupported",
    "fits",
    "json_instruction",
    "parse_json_reply",
    "prompted_json",
    "repair_request",
    "response_schema",
    "schema_problem",
    "tool_arguments",
    "with_instruction",
]

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


class LocalToolsUnsupported(OpenMuxError, ValueError):
    """The local model was given a tool it cannot call: one that is not a function."""

    def __init__(self, model: str, what: str) -> None:
        super().__init__(
            f"the local model {model} cannot call {what}: it calls function tools (a name, "
            f"a description and JSON-schema parameters); a provider model with that tool "
            f"can (set a provider key: `openmux init`)"
        )


class LocalStructuredOutputError(OpenMuxError, ValueError):
    """The local model's JSON did not fit the schema, even after one repair."""


def tool_arguments(text: str, tool: Mapping[str, Any], *, cut: bool = False) -> dict[str, Any]:
    """The arguments of a tool call, checked against the tool's parameters (`cut`: the
    reply stopped at max_tokens, which the error then names)."""
    name = tool["function"]["name"]
    schema = tool["function"].get("parameters") or {}
    try:
        args = parse_json_reply(text)
        problem = schema_problem(args, schema, "the arguments")
    except ValueError as exc:
        problem = str(exc)
    if problem is not None:
        if cut:
            problem += " (the reply stopped at max_tokens: raise max_tokens)"
        raise LocalStructuredOutputError(
            f"the local model's arguments for tool {name!r} do not fit its schema: {problem}"
        )
    return dict(args)


def response_schema(response_format: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The JSON schema an OpenAI-style `response_format` asks for ({} for any object)."""
    if not response_format or response_format.get("type") == "text":
        return None
    if response_format.get("type") == "json_object":
        return {}
    schema = response_format.get("schema") or response_format.get("json_schema", {})
    if isinstance(schema, Mapping) and "schema" in schema:
        schema = schema["schema"]  # OpenAI's {"name", "schema"} wrapper
    return dict(schema)


def _example(schema: Mapping[str, Any]) -> Any:
    """A skeleton value of the schema's shape, for the prompt."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {k: _example(v) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [_example(schema.get("items", {}))]
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return True
    return str(schema.get("description") or "...")


def json_instruction(schema: Mapping[str, Any]) -> str:
    """The system prompt that asks for a JSON reply fitting `schema`.

    The shape is shown as an example object, not as the schema itself: a small
    model shown a JSON schema copies it back.
    """
    if not schema.get("properties"):
        return "Reply with one JSON object and nothing else."
    return (
        f"Reply with one JSON object of this shape and nothing else: {json.dumps(_example(schema))}"
    )


def parse_json_reply(text: str) -> Any:
    """The first JSON value in `text`; ValueError naming the problem if there is none."""
    start = text.find("{")
    if start < 0:
        raise ValueError("the reply holds no JSON object")
    try:
        return json.JSONDecoder().raw_decode(text, start)[0]
    except json.JSONDecodeError as exc:
        raise ValueError(f"the reply is not valid JSON ({exc.msg})") from exc


def schema_problem(value: Any, schema: Mapping[str, Any], where: str = "the reply") -> str | None:
    """What keeps `value` from fitting `schema` (the common JSON Schema keywords), or None."""
    for option_key in ("anyOf", "oneOf"):
        if option_key in schema:
            options = schema[option_key]
            if all(schema_problem(value, option, where) for option in options):
                return f"{where} fits none of the allowed shapes"
            return None
    if "enum" in schema and value not in schema["enum"]:
        return f"{where} must be one of {schema['enum']}"
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if kinds:
        allowed = tuple(t for k in kinds for t in _JSON_TYPES.get(k, ()))
        is_bool = isinstance(value, bool)
        if not isinstance(value, allowed) or (is_bool and "boolean" not in kinds):
            return f"{where} must be of type {' or '.join(kinds)}"
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                return f"{where} lacks the required key {key!r}"
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                problem = schema_problem(value[key], sub, f"{key!r}")
                if problem:
                    return problem
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            problem = schema_problem(item, schema["items"], f"item {i}")
            if problem:
                return problem
    return None


def fits(text: str, schema: Mapping[str, Any]) -> bool:
    """Whether `text` holds a JSON value that fits `schema`."""
    try:
        return schema_problem(parse_json_reply(text), schema) is None
    except ValueError:
        return False


def repair_request(problem: str) -> str:
    """The follow-up that shows the model what was wrong with its JSON."""
    return f"That reply does not fit: {problem}. Reply again with only the corrected JSON object."


def with_instruction(
    messages: Sequence[Mapping[str, str]], instruction: str
) -> list[dict[str, str]]:
    """The conversation with `instruction` leading its system prompt."""
    out = [dict(m) for m in messages]
    if out and out[0]["role"] == "system":
        out[0]["content"] = f"{instruction}\n\n{out[0]['content']}"
    else:
        out.insert(0, {"role": "system", "content": instruction})
    return out


def _value_kind(schema: Mapping[str, Any]) -> str:
    """ "string" (written between quotes we add), "scalar" (a bare literal) or "free"."""
    kinds = {schema.get("type")} | {o.get("type") for o in schema.get("anyOf", [])}
    if "string" in kinds or ("enum" in schema and all(isinstance(v, str) for v in schema["enum"])):
        return "string"
    if kinds & {"integer", "number", "boolean"} and not kinds & {"array", "object"}:
        return "scalar"
    return "free"


def _literals(schema: Mapping[str, Any]) -> list[str]:
    """The JSON texts a value may take when the schema allows only a few; else []."""
    if "const" in schema:
        return [json.dumps(schema["const"])]
    if "enum" in schema:
        return [json.dumps(value) for value in schema["enum"]]
    if schema.get("type") == "boolean":
        return ["true", "false"]
    return []


class _Attempt:
    """One reply written key by key: the keys and punctuation are ours, values the model's.

    A model this small, asked for JSON, echoes the schema or loops inside a
    value; starting each value for it and stopping at its closing quote keeps
    the reply well-formed, and the check against the schema catches the rest.
    Each step re-renders the conversation with the reply so far as its start,
    so the runtime's prefix cache evaluates only the new tokens.
    """

    def __init__(
        self, model: LocalModel, conversation: list[dict[str, str]], deadline: float | None
    ) -> None:
        self.model = model
        self.conversation = conversation
        self.deadline = deadline
        self.prompt_tokens = self.completion_tokens = 0
        self.finish_reason: str | None = "stop"

    def _count(self, chunk: GenerationChunk) -> None:
        self.prompt_tokens = max(self.prompt_tokens, chunk.prompt_tokens)
        self.completion_tokens += chunk.completion_tokens
        self.finish_reason = chunk.finish_reason

    def _choose(self, reply: str, options: Sequence[str]) -> str:
        chosen = self.model.choose(
            self.conversation, options, reply_prefix=reply, deadline=self.deadline
        )
        self._count(chosen)
        return chosen.text

    def _continue(self, reply: str, *, stop: Sequence[str], max_tokens: int | None) -> str:
        parts: list[str] = []
        for chunk in self.model.chat(
            self.conversation,
            max_tokens=max_tokens,
            sampling=_JSON_SAMPLING,
            stop=stop,
            reply_prefix=reply,
            deadline=self.deadline,
        ):
            parts.append(chunk.text)
            if chunk.finish_reason is not None:
                self._count(chunk)
        return "".join(parts)

    def write(self, schema: Mapping[str, Any], max_tokens: int | None) -> str:
        reply = "{"
        for i, (key, sub) in enumerate(schema.get("properties", {}).items()):
            reply += ("" if i == 0 else ", ") + json.dumps(key) + ": "
            literals = _literals(sub)
            kind = _value_kind(sub)
            if literals:  # an enum, a constant or a boolean: one of a few exact texts
                reply += self._choose(reply, literals)
            elif kind == "string":
                value = self._continue(reply + '"', stop=['"', "\n"], max_tokens=_VALUE_TOKENS)
                reply += json.dumps(value.strip())
            elif kind == "scalar":
                value = self._continue(reply, stop=[",", "}", "\n"], max_tokens=_SCALAR_TOKENS)
                reply += value.strip() or "null"
            else:  # a nested value: the model writes the rest of the object
                return reply + self._continue(reply, stop=[], max_tokens=max_tokens)
        if reply == "{" and "properties" not in schema:  # any object: the model writes it
            return reply + self._continue(reply, stop=[], max_tokens=max_tokens)
        return reply + "}"


_JSON_SAMPLING = Sampling(repeat_penalty=1.1)  # greedy; the penalty stops a value looping
_VALUE_TOKENS = 64
_SCALAR_TOKENS = 12


def prompted_json(
    model: LocalModel,
    messages: Sequence[Mapping[str, str]],
    schema: Mapping[str, Any],
    *,
    max_tokens: int | None,
    deadline: float | None,
) -> GenerationChunk:
    """A JSON reply asked for in the prompt and checked against `schema`, repaired once.

    Returns the reply text (the repaired one if the first did not fit, the last
    one in any case: the caller's parser reports what is still wrong) with the
    token counts of both attempts.
    """
    conversation = with_instruction(messages, json_instruction(schema))
    prompt_tokens = completion_tokens = 0
    text = ""
    finish: str | None = "stop"
    for attempt in range(2):
        step = _Attempt(model, conversation, deadline)
        text = step.write(schema, max_tokens)
        prompt_tokens += step.prompt_tokens
        completion_tokens += step.completion_tokens
        finish = step.finish_reason
        try:
            problem = schema_problem(parse_json_reply(text), schema)
        except ValueError as exc:
            problem = str(exc)
        if problem is None or attempt == 1:
            break
        conversation = [
            *conversation,
            {"role": "assistant", "content": text},
            {"role": "user", "content": repair_request(problem)},
        ]
    return GenerationChunk(
        text,
        finish_reason=finish,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )
