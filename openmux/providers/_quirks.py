"""Provider quirks: what one provider or protocol needs done to a request, as rows.

The router calls `adapt_request` just before sending; nothing elsewhere checks a
provider's name or protocol to bend a request.

| quirk                    | row                                                   |
|--------------------------|-------------------------------------------------------|
| tool-call id form        | `TOOL_CALL_ID_FORMS[provider.tool_call_id_style]`     |
| options it does not take | `DROPPED_OPTIONS[protocol]`                           |
| no `tool_choice`         | `TOOL_CHOICE_AS_TOOLS`: the choice as the tools sent  |
| options nested in a dict | `NESTED_OPTIONS[protocol]`: (dict name, renames)      |
| options in its own form  | `CONVERTED_OPTIONS[protocol][option]`: new (name, value) |
| OpenAI body field names  | `OPENAI_BODY_RENAMES`: old name -> the name sent       |
| content blocks it cannot take | `DROPPED_BLOCKS[protocol]`: block types left out  |
| roles under another name | `RENAMED_ROLES[protocol]`: role -> the role sent        |

(OpenAI-protocol servers get `max_tokens` under that name: see
`_openai_compatible.CompatibleChatOpenAI`.)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, ChatMessage, SystemMessage, ToolMessage

if TYPE_CHECKING:
    from openmux.config import ProviderSettings

_ALNUM9 = re.compile(r"^[A-Za-z0-9]{9}$")


def _alnum9(tool_call_id: str) -> str:
    """Mistral accepts only 9-alphanumeric tool-call ids: a stable digest of any other id."""
    if _ALNUM9.match(tool_call_id):
        return tool_call_id
    return hashlib.sha256(tool_call_id.encode()).hexdigest()[:9]


# Style name -> the id rewrite; "any" (no rewrite) has no row.
TOOL_CALL_ID_FORMS: dict[str, Callable[[str], str]] = {"alnum9": _alnum9}

# Call options a protocol does not take (the others pass through to the adapter).
DROPPED_OPTIONS: dict[str, frozenset[str]] = {
    "ollama": frozenset({"tool_choice", "parallel_tool_calls"}),
}

# Protocols that take no `tool_choice` (Ollama's API has none): what the choice allows is
# what the model is offered, so "none" offers no tool and a named function only that one.
TOOL_CHOICE_AS_TOOLS: frozenset[str] = frozenset({"ollama"})


def chosen_tool(choice: Any) -> str | None:
    """The function a `{'type': 'function', 'function': {'name': ...}}` choice names."""
    if not isinstance(choice, dict) or choice.get("type") != "function":
        return None
    function = choice.get("function")
    name = function.get("name") if isinstance(function, dict) else None
    return name if isinstance(name, str) else None


def _tools_chosen(kwargs: dict[str, Any]) -> dict[str, Any]:
    choice, tools = kwargs.get("tool_choice"), kwargs.get("tools")
    if not tools:
        return kwargs
    if choice == "none":
        return {k: v for k, v in kwargs.items() if k != "tools"}
    name = chosen_tool(choice)
    if name is None:
        return kwargs
    chosen = [t for t in tools if isinstance(t, dict) and t.get("function", {}).get("name") == name]
    return {**kwargs, "tools": chosen} if chosen else kwargs


# An earlier answer's own reasoning, in each form a client keeps it: Anthropic's "thinking"
# and "redacted_thinking", LangChain v1's "reasoning". It was written by and for the model
# that answered then (the signed and redacted forms are readable by it alone), so it is
# left out rather than passed to another as text.
_REASONING_BLOCKS = frozenset({"thinking", "redacted_thinking", "reasoning"})

# Content blocks a protocol's client cannot send, left out of the messages before the call.
# langchain-openai passes "redacted_thinking" on (a 400 at compatible servers); ChatOllama
# raises on any block type it does not know, here a v1 "tool_call" block too, whose call the
# message's `tool_calls` carries; the in-process models read text only.
DROPPED_BLOCKS: dict[str, frozenset[str]] = {
    "openai": _REASONING_BLOCKS,
    "ollama": _REASONING_BLOCKS | {"tool_call"},
    "llamacpp": _REASONING_BLOCKS | {"tool_call"},
    "transformers": _REASONING_BLOCKS | {"tool_call"},
}

# Message roles a protocol's servers know under another name. "developer" is OpenAI's newer
# name for "system"; compatible servers (vLLM's, most gateways) refuse it with a 400, and
# no provider in the table is OpenAI itself.
RENAMED_ROLES: dict[str, dict[str, str]] = {"openai": {"developer": "system"}}

# Call options a protocol takes inside one dict, under its own names. langchain-ollama
# passes unknown keyword arguments to `Client.chat` (a TypeError for `temperature` or
# `max_tokens`), and ignores `stop` once `options` is given, so stop moves in as well.
NESTED_OPTIONS: dict[str, tuple[str, dict[str, str]]] = {
    "ollama": (
        "options",
        {
            "temperature": "temperature",
            "max_tokens": "num_predict",
            "top_p": "top_p",
            "seed": "seed",
            "stop": "stop",
        },
    ),
}


def _ollama_format(response_format: Any) -> tuple[str, Any]:
    """OpenAI's `response_format` as Ollama's `format`: "json", or the JSON schema itself
    (https://github.com/ollama/ollama/blob/main/docs/api.md, `format`; schemas since
    Ollama 0.5, https://ollama.com/blog/structured-outputs, 2024-12-06)."""
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        block = response_format.get("json_schema") or {}
        return "format", block.get("schema", {})
    return "format", "json"


# Call options a protocol takes under another name and in another shape.
CONVERTED_OPTIONS: dict[str, dict[str, Callable[[Any], tuple[str, Any]]]] = {
    "ollama": {"response_format": _ollama_format},
}


def adapt_request(
    provider: ProviderSettings, messages: list[BaseMessage], call_kwargs: dict[str, Any]
) -> tuple[list[BaseMessage], dict[str, Any]]:
    """The request's messages and call options in the form this provider takes."""
    rewrite = TOOL_CALL_ID_FORMS.get(provider.tool_call_id_style)
    if rewrite is not None:
        messages = _rewrite_tool_call_ids(messages, rewrite)
    dropped = DROPPED_BLOCKS.get(provider.protocol)
    if dropped:
        messages = [_without_blocks(message, dropped) for message in messages]
    roles = RENAMED_ROLES.get(provider.protocol)
    if roles:
        messages = [_renamed_role(message, roles) for message in messages]
    return messages, _options(provider.protocol, call_kwargs)


# Where LangChain keeps a system message's OpenAI role (langchain-openai sends it as is).
_OPENAI_ROLE = "__openai_role__"


def _renamed_role(message: BaseMessage, roles: Mapping[str, str]) -> BaseMessage:
    if isinstance(message, ChatMessage) and message.role in roles:
        return message.model_copy(update={"role": roles[message.role]})
    role = message.additional_kwargs.get(_OPENAI_ROLE)
    if isinstance(message, SystemMessage) and isinstance(role, str) and role in roles:
        kwargs = {**message.additional_kwargs, _OPENAI_ROLE: roles[role]}
        return message.model_copy(update={"additional_kwargs": kwargs})
    return message


def _without_blocks(message: BaseMessage, dropped: frozenset[str]) -> BaseMessage:
    if isinstance(message.content, str):
        return message
    kept = [
        block
        for block in message.content
        if not (isinstance(block, dict) and block.get("type") in dropped)
    ]
    if len(kept) == len(message.content):
        return message
    # Nothing left (an answer that was all reasoning and a tool call) is empty text: some
    # servers refuse an empty list of parts.
    return message.model_copy(update={"content": kept or ""})


def _rewrite_tool_call_ids(
    messages: list[BaseMessage], rewrite: Callable[[str], str]
) -> list[BaseMessage]:
    rewritten: list[BaseMessage] = []
    for message in messages:
        if isinstance(message, AIMessage) and (message.tool_calls or message.invalid_tool_calls):
            # Clients send a call whose arguments were not JSON beside the others, and the
            # tool's answer to it carries its id all the same.
            calls = [{**call, "id": rewrite(call["id"] or "")} for call in message.tool_calls]
            invalid = [
                {**call, "id": rewrite(call["id"] or "")} for call in message.invalid_tool_calls
            ]
            message = message.model_copy(
                update={"tool_calls": calls, "invalid_tool_calls": invalid, "additional_kwargs": {}}
            )
        elif isinstance(message, ToolMessage):
            message = message.model_copy(update={"tool_call_id": rewrite(message.tool_call_id)})
        rewritten.append(message)
    return rewritten


def _options(protocol: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    if protocol in TOOL_CHOICE_AS_TOOLS:
        kwargs = _tools_chosen(kwargs)
    dropped = DROPPED_OPTIONS.get(protocol, frozenset())
    out = {k: v for k, v in kwargs.items() if k not in dropped}
    for name, convert in CONVERTED_OPTIONS.get(protocol, {}).items():
        if out.get(name) is not None:
            new_name, value = convert(out.pop(name))
            out[new_name] = value
    nested = NESTED_OPTIONS.get(protocol)
    if nested is not None:
        key, names = nested
        inner = {names[k]: out.pop(k) for k in list(out) if k in names and out[k] is not None}
        if inner:
            out[key] = {**out.get(key, {}), **inner}
    return out


# An OpenAI chat-completions body sent as it came (see `_wire`): fields every provider in
# the table takes under another name. OpenAI's newer `max_completion_tokens` is rejected
# by Mistral (422, extra_forbidden) and unknown to older compatible servers.
OPENAI_BODY_RENAMES: dict[str, str] = {"max_completion_tokens": "max_tokens"}


def adapt_openai_body(
    provider: ProviderSettings, model: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    """An OpenAI-protocol request body in the form this provider takes, for `model`."""
    dropped = DROPPED_OPTIONS.get(provider.protocol, frozenset()) | OPENAI_BODY_RENAMES.keys()
    out = {name: value for name, value in body.items() if name not in dropped}
    for old, new in OPENAI_BODY_RENAMES.items():
        if body.get(old) is not None:
            out[new] = body[old]  # the newer name wins when both are given, as at OpenAI
    out["model"] = model
    rewrite = TOOL_CALL_ID_FORMS.get(provider.tool_call_id_style)
    if rewrite is not None and isinstance(out.get("messages"), list):
        out["messages"] = [_rewrite_wire_ids(m, rewrite) for m in out["messages"]]
    roles = RENAMED_ROLES.get(provider.protocol)
    if roles and isinstance(out.get("messages"), list):
        out["messages"] = [
            {**m, "role": roles[m["role"]]} if isinstance(m, dict) and m.get("role") in roles else m
            for m in out["messages"]
        ]
    return out


def _rewrite_wire_ids(message: Any, rewrite: Callable[[str], str]) -> Any:
    if not isinstance(message, dict):
        return message
    if message.get("tool_calls"):
        calls = [
            {**call, "id": rewrite(str(call.get("id") or ""))} for call in message["tool_calls"]
        ]
        return {**message, "tool_calls": calls}
    if message.get("role") == "tool" and message.get("tool_call_id"):
        return {**message, "tool_call_id": rewrite(str(message["tool_call_id"]))}
    return message
