"""Tool calls from a local model: it chooses between answering and calling a bound tool.

A model this small was never taught a tool-call format, so the choice is put as a
question it can answer: the tools are listed by name and description, and the reply
is held to one of their names or `no_tool` (`LocalModel.choose`: the same code on both
runtimes, reading the model's logits on each option's tokens). The chosen tool's
arguments are then
structured output against its parameters: a grammar from the JSON schema on
llama.cpp; on numpy, keys and punctuation written for the model, values checked
against the schema with one repair. A call always fits its tool's schema or raises.

`tool_choice` is honoured as OpenAI defines it: "auto" (or none given) lets the model
choose, "required" makes it call one of the tools, a name forces that tool, "none"
answers without tools. One round of calls per user turn: once the conversation ends
with tool results, "auto" answers from them, so an agent loop ends rather than calling
the same tool again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openmux.local._chat_template import LocalConversationRefused
from openmux.local._generation import GenerationChunk, LocalModel
from openmux.local._structured import LocalToolsUnsupported

__all__ = ["NO_TOOL", "ToolRequest", "choose_tool", "tool_instruction", "tool_request"]

NO_TOOL = "no_tool"
_ANSWER_OPTIONS = (NO_TOOL, "answer_without_tools")  # the second if a tool is named no_tool


@dataclass(frozen=True)
class ToolRequest:
    """What a call may do with its tools: which it may call, and whether it may answer."""

    tools: tuple[Mapping[str, Any], ...]
    may_answer: bool

    @property
    def answer_option(self) -> str:
        names = {_name(tool) for tool in self.tools}
        return next(option for option in _ANSWER_OPTIONS if option not in names)


def _name(tool: Mapping[str, Any]) -> str:
    return str(tool["function"]["name"])


def _checked(tools: Sequence[Mapping[str, Any]], model: str) -> list[Mapping[str, Any]]:
    for tool in tools:
        if tool.get("type", "function") != "function" or "function" not in tool:
            raise LocalToolsUnsupported(model, f"a {tool.get('type')!r} tool")
    return list(tools)


def tool_request(
    tools: Sequence[Mapping[str, Any]] | None,
    tool_choice: Any,
    messages: Sequence[Mapping[str, str]],
    model: str,
) -> ToolRequest | None:
    """The tools this call may use (OpenAI-format `tools` and `tool_choice`); None: answer.

    Raises `LocalConversationRefused` for a `tool_choice` that names no bound tool (the
    caller's error, which no model would take), and
    `LocalToolsUnsupported` for a tool that is not a function (a provider's built-in tool).
    """
    if not tools or tool_choice == "none":
        return None
    bound = _checked(tools, model)
    by_name = {_name(tool): tool for tool in bound}
    name = None
    if isinstance(tool_choice, Mapping):
        name = tool_choice.get("function", {}).get("name") or tool_choice.get("name")
    elif isinstance(tool_choice, str) and tool_choice not in ("auto", "required", "any"):
        name = tool_choice
    if name is not None:
        if name not in by_name:
            raise LocalConversationRefused(
                f"tool_choice names {name!r}, which is not a bound tool; "
                f"bound: {', '.join(by_name)}"
            )
        return ToolRequest((by_name[name],), may_answer=False)
    if tool_choice in ("required", "any", True):
        return ToolRequest(tuple(bound), may_answer=False)
    if tool_choice not in (None, "auto"):
        raise LocalConversationRefused(
            f"unknown tool_choice {tool_choice!r}: use 'auto', 'required', 'none' or a tool name"
        )
    if messages and messages[-1]["role"] == "tool":
        return None
    return ToolRequest(tuple(bound), may_answer=True)


def _describe(tool: Mapping[str, Any]) -> str:
    description = str(tool["function"].get("description") or "").strip().splitlines()
    return f"- {_name(tool)}: {description[0]}" if description else f"- {_name(tool)}"


def _decision_prompt(request: ToolRequest) -> str:
    listing = "\n".join(_describe(tool) for tool in request.tools)
    if request.may_answer:
        return (
            f"You decide whether the user's message needs a tool.\nTools:\n{listing}\n"
            f"Reply with the name of the tool the message needs, or reply "
            f"{request.answer_option} when no tool is needed."
        )
    return f"Tools:\n{listing}\nReply with the name of the tool the user's message needs."


def choose_tool(
    model: LocalModel,
    messages: Sequence[Mapping[str, str]],
    request: ToolRequest,
    *,
    deadline: float | None,
) -> tuple[Mapping[str, Any] | None, GenerationChunk]:
    """The tool to call (None: answer instead), and the token counts the choice cost."""
    if len(request.tools) == 1 and not request.may_answer:
        return request.tools[0], GenerationChunk("")
    options = [_name(tool) for tool in request.tools]
    if request.may_answer:
        options.append(request.answer_option)
    conversation = [
        {"role": "system", "content": _decision_prompt(request)},
        *(m for m in messages if m["role"] != "system"),
    ]
    chosen = model.choose(conversation, options, deadline=deadline)
    tool = next((tool for tool in request.tools if _name(tool) == chosen.text), None)
    return tool, chosen


def tool_instruction(tool: Mapping[str, Any]) -> str:
    """The system prompt under which the chosen tool's arguments are written."""
    description = str(tool["function"].get("description") or "").strip()
    about = f" ({description})" if description else ""
    return f"Call the tool {_name(tool)}{about} with the arguments the user's message gives."
