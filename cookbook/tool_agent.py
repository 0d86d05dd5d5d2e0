"""A tool-calling agent loop: the router sends tool-bound requests to tool-capable models,
and a conversation with tool calls sticks to the provider that made them."""

from __future__ import annotations

from contextlib import ExitStack

from _setup import options
from langchain_core.messages import BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from openmux import ChatOpenMux


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


TOOLS = {t.name: t for t in (multiply, add)}


def run_agent(llm: ChatOpenMux, question: str, max_steps: int = 5) -> str:
    model = llm.bind_tools(list(TOOLS.values()))
    messages: list[BaseMessage] = [HumanMessage(question)]
    for _ in range(max_steps):
        reply = model.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            return reply.text
        for call in reply.tool_calls:
            result = TOOLS[call["name"]].invoke(call)
            print(f"  tool {call['name']}({call['args']}) -> {result.content}")
            messages.append(
                result
                if isinstance(result, ToolMessage)
                else ToolMessage(str(result), tool_call_id=call["id"])
            )
    return messages[-1].text


def main() -> None:
    with ExitStack() as stack:
        llm = ChatOpenMux(**options(stack))
        print(run_agent(llm, "What is 12 multiplied by 7? Use the multiply tool."))


if __name__ == "__main__":
    main()
