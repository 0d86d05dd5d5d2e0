"""Orchestrator: the dict-returning entry point, compatible with the OpenMux 0.2 call forms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage

from openmux.chat_models import ChatOpenMux
from openmux.classifier import TaskType

# The OpenMux 0.2 `combination_method` names, and the combiner each maps to.
_COMBINATIONS = {"merge": "concat", "summarize": "summarize"}


class Orchestrator:
    """Ask anything; get the answer and how it was made.

    Example:
        ```python
        from openmux import Orchestrator

        result = Orchestrator().process("Write a Python function that reverses a string")
        print(result["response"], result["model"], result["reasoning"])

        # Three models at once, the majority answer:
        Orchestrator().process("Is 2**61 - 1 prime? yes or no", fanout=3, combiner="vote")
        ```

    Constructor options are those of `ChatOpenMux` (providers, model, free_only,
    fanout, combiner, ...).
    """

    def __init__(self, **options: Any) -> None:
        self.chat = ChatOpenMux(**options)

    @staticmethod
    def _routing(
        task_type: TaskType | str | None, options: dict[str, Any], fan: dict[str, Any]
    ) -> dict[str, Any]:
        task = options.pop("task", None) or task_type
        if task is not None:
            options["task"] = str(TaskType(task))
        options.update({key: value for key, value in fan.items() if value is not None})
        return options

    def process(
        self,
        query: Any,
        task_type: TaskType | str | None = None,
        *,
        fanout: int | Sequence[str] | None = None,
        combiner: str | None = None,
        judge: str | None = None,
        min_answers: int | None = None,
        member_timeout: float | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Answer `query` (text or messages). `task_type` / `task` skip classification.

        `fanout=N` (or a list of model names) asks several models at once and
        `combiner` (best, vote, concat, summarize, local-summarize) makes one
        answer of theirs; the result then also holds `members` and `combiner`.
        """
        fan = {
            "fanout": fanout,
            "combiner": combiner,
            "judge": judge,
            "min_answers": min_answers,
            "member_timeout": member_timeout,
        }
        message = self.chat.invoke(query, **self._routing(task_type, options, fan))
        return _result(message)

    async def aprocess(
        self,
        query: Any,
        task_type: TaskType | str | None = None,
        *,
        fanout: int | Sequence[str] | None = None,
        combiner: str | None = None,
        judge: str | None = None,
        min_answers: int | None = None,
        member_timeout: float | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        fan = {
            "fanout": fanout,
            "combiner": combiner,
            "judge": judge,
            "min_answers": min_answers,
            "member_timeout": member_timeout,
        }
        message = await self.chat.ainvoke(query, **self._routing(task_type, options, fan))
        return _result(message)

    def process_multi(
        self,
        query: Any,
        num_models: int = 2,
        combination_method: str = "merge",
        task_type: TaskType | str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Ask `num_models` different models at once, then combine their answers.

        The OpenMux 0.2 form of `process(query, fanout=num_models, combiner=...)`:
        `merge` labels each answer with its model (the `concat` combiner);
        `summarize` has one more model merge them into a single answer. Any
        combiner name is accepted too. The result adds `combination_method` and
        `responses` (`[{"model", "response", "error"}]`, one per model asked).
        """
        combiner = _combiner_for(combination_method, num_models)
        result = self.process(query, task_type, fanout=num_models, combiner=combiner, **options)
        return _multi(result, combination_method)

    async def aprocess_multi(
        self,
        query: Any,
        num_models: int = 2,
        combination_method: str = "merge",
        task_type: TaskType | str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        combiner = _combiner_for(combination_method, num_models)
        result = await self.aprocess(
            query, task_type, fanout=num_models, combiner=combiner, **options
        )
        return _multi(result, combination_method)


def _combiner_for(combination_method: str, num_models: int) -> str:
    from openmux.combiners import COMBINERS

    if num_models < 1:
        raise ValueError("num_models must be at least 1")
    combiner = _COMBINATIONS.get(combination_method, combination_method)
    if combiner not in COMBINERS:
        names = (*_COMBINATIONS, *COMBINERS)
        raise ValueError(f"combination_method must be one of {names}, got {combination_method!r}")
    return combiner


def _multi(result: dict[str, Any], combination_method: str) -> dict[str, Any]:
    result["combination_method"] = combination_method
    responses = []
    for member in result.get("members", []):
        ok = member["status"] == "ok"
        error = None
        if not ok:
            errors = [
                a["error"]
                for a in result["attempts"]
                if (a["provider"], a["model"]) == (member["provider"], member["model"])
                and a["status"] == member["status"]
            ]
            error = member["status"] + (f": {errors[-1]}" if errors and errors[-1] else "")
        responses.append(
            {
                "model": f"{member['provider']}:{member['model']}",
                "response": _text(member["content"]) if ok else None,
                "error": error,
            }
        )
    result["responses"] = responses
    return result


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return AIMessage(content=content).text


def media_entries(message: AIMessage) -> list[dict[str, Any]]:
    """The answer's images and sounds: type, mime_type, data (base64) and path (None: not
    saved; `openmux.media.Media.save` writes one)."""
    from openmux.media import media_blocks

    return [
        {
            "type": block["type"],
            "mime_type": block.get("mime_type"),
            "data": block.get("base64") or block.get("data"),
            "path": None,
        }
        for block in media_blocks(message)
    ]


def _result(message: AIMessage) -> dict[str, Any]:
    meta = message.response_metadata["openmux"]
    result = {
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
        "media": media_entries(message),
        "metadata": meta,
    }
    if "members" in meta:
        result["members"] = meta["members"]
        result["combiner"] = meta["combiner"]
    return result
