"""Orchestrator: the dict-returning entry point, compatible with the OpenMux 0.2 call forms."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from langchain_core.messages import AIMessage

from openmux.chat_models import ChatOpenMux
from openmux.classifier import TaskType
from openmux.errors import NoProviderAvailable
from openmux.routing import RouteRequest

_COMBINATIONS = ("merge", "summarize")


class Orchestrator:
    """Ask anything; get the answer and how it was made.

    Example:
        ```python
        from openmux import Orchestrator

        result = Orchestrator().process("Write a Python function that reverses a string")
        print(result["response"], result["model"], result["reasoning"])
        ```

    Constructor options are those of `ChatOpenMux` (providers, model, free_only, ...).
    """

    def __init__(self, **options: Any) -> None:
        self.chat = ChatOpenMux(**options)

    @staticmethod
    def _routing(task_type: TaskType | str | None, options: dict[str, Any]) -> dict[str, Any]:
        task = options.pop("task", None) or task_type
        if task is not None:
            options["task"] = str(TaskType(task))
        return options

    def process(
        self, query: Any, task_type: TaskType | str | None = None, **options: Any
    ) -> dict[str, Any]:
        """Answer `query` (text or messages). `task_type` / `task` skip classification."""
        message = self.chat.invoke(query, **self._routing(task_type, options))
        return _result(message)

    async def aprocess(
        self, query: Any, task_type: TaskType | str | None = None, **options: Any
    ) -> dict[str, Any]:
        message = await self.chat.ainvoke(query, **self._routing(task_type, options))
        return _result(message)

    def process_multi(
        self,
        query: str,
        num_models: int = 2,
        combination_method: str = "merge",
        task_type: TaskType | str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Ask `num_models` different models at once, then combine their answers.

        `merge` labels each answer with its model; `summarize` has one more model
        merge them into a single answer.
        """
        if combination_method not in _COMBINATIONS:
            raise ValueError(
                f"combination_method must be one of {_COMBINATIONS}, got {combination_method!r}"
            )
        if num_models < 1:
            raise ValueError("num_models must be at least 1")
        routing = self._routing(task_type, options)
        request = self.chat.router.plan(self._plan_request(query, routing))
        members = [f"{c.provider.name}:{c.model.id}" for c in request.candidates][:num_models]
        if not members:
            raise NoProviderAvailable("no model can answer", hints=request.hints)
        with ThreadPoolExecutor(max_workers=len(members)) as pool:
            futures = [pool.submit(self._member, query, member, routing) for member in members]
            answers = [f.result() for f in futures]
        ok = [(member, message) for member, message in answers if isinstance(message, AIMessage)]
        if not ok:
            attempts = [a for _, error in answers for a in getattr(error, "attempts", [])]
            raise NoProviderAvailable("no member of the fan-out answered", attempts=attempts)
        labelled = "\n\n".join(f"[{member}]\n{message.text}" for member, message in ok)
        if combination_method == "summarize" and len(ok) > 1:
            prompt = (
                "Several assistants answered the same question. Merge their answers into one "
                "accurate, complete answer; drop anything wrong or repeated.\n\n"
                f"Question:\n{query}\n\nAnswers:\n{labelled}"
            )
            combined = self.chat.invoke(
                prompt, **{k: v for k, v in routing.items() if k != "model"}
            )
            result = _result(combined)
        else:
            result = _result(ok[0][1])
            result["response"] = labelled if len(ok) > 1 else ok[0][1].text
        result["combination_method"] = combination_method
        result["responses"] = [
            {
                "model": member,
                "response": message.text if isinstance(message, AIMessage) else None,
                "error": None if isinstance(message, AIMessage) else str(message),
            }
            for member, message in answers
        ]
        return result

    def _plan_request(self, query: Any, routing: dict[str, Any]) -> RouteRequest:
        from langchain_core.messages import HumanMessage

        messages = [HumanMessage(query)] if isinstance(query, str) else list(query)
        return RouteRequest(
            messages=messages,
            task=routing.get("task"),
            model=routing.get("model"),
            provider=routing.get("provider"),
        )

    def _member(
        self, query: Any, member: str, routing: dict[str, Any]
    ) -> tuple[str, AIMessage | Exception]:
        try:
            message = self.chat.invoke(query, **{**routing, "model": member})
        except Exception as exc:  # one member failing must not sink the others
            return member, exc
        assert isinstance(message, AIMessage)
        return member, message

    async def aprocess_multi(
        self, query: str, num_models: int = 2, combination_method: str = "merge", **options: Any
    ) -> dict[str, Any]:
        return await asyncio.to_thread(
            self.process_multi, query, num_models, combination_method, **options
        )


def _result(message: AIMessage) -> dict[str, Any]:
    meta = message.response_metadata["openmux"]
    return {
        "response": message.text,
        "model": meta["model"],
        "provider": meta["provider"],
        "task": meta["task"],
        "confidence": meta["confidence"],
        "reasoning": meta["reason"],
        "latency_ms": meta["latency_ms"],
        "attempts": meta["attempts"],
        "usage": message.usage_metadata,
        "offline": meta["offline"],
        "tool_calls": message.tool_calls,
        "metadata": meta,
    }
