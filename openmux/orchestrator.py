"""Orchestrator: the dict-returning entry point, compatible with the OpenMux 0.2 call forms."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage

from openmux._suggest import unknown_key_fix
from openmux.chat_models import ChatOpenMux
from openmux.classifier import TaskType
from openmux.embeddings import OpenMuxEmbeddings
from openmux.errors import ConfigError

# The OpenMux 0.2 `combination_method` names, and the combiner each maps to.
_COMBINATIONS = {"merge": "concat", "summarize": "summarize"}

# OpenMux 0.2's per-call limits: provider order, retry count, time budget.
_LIMITS = ("provider_preference", "max_retries", "timeout")
# What `process(..., **options)` passes on: routing, a RunnableConfig, model parameters.
_PASSED_ON = (
    "task",
    "model",
    "provider",
    "profile",
    "cache",
    "config",
    "temperature",
    "max_tokens",
    "stop",
    "top_p",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "response_format",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
)
_NAMED = ("task_type", "fanout", "combiner", "judge", "min_answers", "member_timeout")
# Per-call limits build their own router; a few distinct ones are kept for reuse.
_MAX_VARIANTS = 8


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

    OpenMux 0.2 code runs unchanged: `with Orchestrator() as orchestrator:`,
    `cleanup()`, `TaskType.from_string("code")`, the per-call options
    `provider_preference=["groq", ...]` (those providers first, the others after),
    `max_retries=N` (at most N more attempts after the first, failover included) and
    `timeout=SECONDS` (the whole request's time budget; for embeddings, each
    provider call's), and `process(text, task_type="embeddings")`, whose `response`
    is the text's vector (model, provider and timeout apply there).
    An unknown keyword raises TypeError before any request is sent.
    """

    def __init__(self, **options: Any) -> None:
        self.chat = ChatOpenMux(**options)
        self._options = options
        self._variants: OrderedDict[tuple[Any, ...], ChatOpenMux | OpenMuxEmbeddings] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def __enter__(self) -> Orchestrator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the routers built for per-call limits and embeddings.

        Connections live in a pool shared by every instance, so nothing else needs
        closing; the Orchestrator stays usable and rebuilds what a later call needs.
        """
        with self._lock:
            self._variants.clear()

    def cleanup(self) -> None:
        """`close()` under its OpenMux 0.2 name."""
        self.close()

    def _prepare(
        self, task_type: TaskType | str | None, options: dict[str, Any], fan: dict[str, Any]
    ) -> tuple[ChatOpenMux | OpenMuxEmbeddings, dict[str, Any]]:
        """The model to ask and the options of its call; TypeError before any request."""
        for key in options:
            if key not in _LIMITS and key not in _PASSED_ON:
                fix = unknown_key_fix(key, (*_NAMED, *_LIMITS, *_PASSED_ON))
                raise TypeError(f"process() got an unexpected keyword argument {key!r}; {fix}")
        given = {key: options.pop(key, None) for key in _LIMITS}
        limits = {key: value for key, value in given.items() if value is not None}
        task = options.pop("task", None) or task_type
        if task is not None:
            task = TaskType.from_string(str(task))
        if task == TaskType.EMBEDDINGS:
            return self._embeddings(options, fan, limits), {}
        if task is not None:
            options["task"] = str(task)
        options.update({key: value for key, value in fan.items() if value is not None})
        return self._chat(limits), options

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
        model, call = self._prepare(task_type, options, fan)
        if isinstance(model, OpenMuxEmbeddings):
            return _vectors(model, query, *model.embed_documents_routed(_texts(query)))
        return _result(model.invoke(query, **call))

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
        model, call = self._prepare(task_type, options, fan)
        if isinstance(model, OpenMuxEmbeddings):
            return _vectors(model, query, *await model.aembed_documents_routed(_texts(query)))
        return _result(await model.ainvoke(query, **call))

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

    # -- per-call limits and embeddings ----------------------------------------------------

    def _chat(self, limits: dict[str, Any]) -> ChatOpenMux:
        if not limits:
            return self.chat
        options = dict(self._options)
        config = _config_with_limits(options.get("config"), limits, self.chat)
        if "timeout" in limits:
            options["timeout"] = limits["timeout"]  # the constructor's own would win over config
        model = self._variant(("chat", *_limits_key(limits)), ChatOpenMux, options, config)
        assert isinstance(model, ChatOpenMux)
        return model

    def _embeddings(
        self, options: dict[str, Any], fan: dict[str, Any], limits: dict[str, Any]
    ) -> OpenMuxEmbeddings:
        if any(value is not None for value in fan.values()):
            raise ValueError(
                "task_type='embeddings' asks one model for vectors; fan-out (fanout=, "
                "process_multi) combines chat answers"
            )
        pins: dict[str, Any] = {k: options.pop(k) for k in ("model", "provider") if k in options}
        unused = [*options, *(key for key in limits if key != "timeout")]
        if unused:
            # The model comes from the configuration and fails over only to its own other
            # providers: there is no provider order or retry count to set.
            raise TypeError(
                f"{', '.join(unused)} does not apply to task_type='embeddings' (accepted: "
                'model, provider, timeout); pin a model with model="PROVIDER:ID"'
            )
        shared = ("providers", "offline", "api_keys")
        kept = {key: value for key, value in self._options.items() if key in shared}
        base = dict(self._options.get("config") or {})
        if self._options.get("free_only") is not None:
            base["router"] = {**base.get("router", {}), "free_only": self._options["free_only"]}
        if self._options.get("timeout") is not None:
            base["timeouts"] = {**base.get("timeouts", {}), "total": self._options["timeout"]}
        config = _config_with_limits(base, limits, self.chat)
        key = ("embeddings", pins.get("model"), pins.get("provider"), *_limits_key(limits))
        model = self._variant(key, OpenMuxEmbeddings, {**kept, **pins}, config)
        assert isinstance(model, OpenMuxEmbeddings)
        return model

    def _variant(
        self,
        key: tuple[Any, ...],
        kind: type[ChatOpenMux] | type[OpenMuxEmbeddings],
        options: dict[str, Any],
        config: dict[str, Any],
    ) -> ChatOpenMux | OpenMuxEmbeddings:
        with self._lock:
            found = self._variants.pop(key, None)
            if found is None:
                found = kind(**{**options, "config": config})
            self._variants[key] = found  # most recently used last
            while len(self._variants) > _MAX_VARIANTS:
                self._variants.popitem(last=False)
            return found


def _limits_key(limits: dict[str, Any]) -> tuple[Any, ...]:
    preference = limits.get("provider_preference")
    return (
        tuple(preference) if preference is not None else None,
        limits.get("max_retries"),
        limits.get("timeout"),
    )


def _config_with_limits(
    config: dict[str, Any] | None, limits: dict[str, Any], chat: ChatOpenMux
) -> dict[str, Any]:
    """`config` (openmux.toml's shape) with OpenMux 0.2's per-call limits applied."""
    merged = {key: dict(value) for key, value in (config or {}).items()}
    router = merged.setdefault("router", {})
    preference = limits.get("provider_preference")
    if preference is not None:
        if isinstance(preference, str) or not all(isinstance(p, str) for p in preference):
            raise TypeError("provider_preference must be a list of provider names")
        known = chat.settings.providers
        for name in preference:
            if name not in known:
                raise ConfigError(
                    f"unknown provider {name!r}",
                    source="provider_preference=",
                    fix=unknown_key_fix(name, known),
                )
        router["prefer"] = [*preference, *router.get("prefer", ())]
    retries = limits.get("max_retries")
    if retries is not None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"max_retries must be a whole number >= 0, got {retries!r}")
        router["max_attempts"] = retries + 1
    timeout = limits.get("timeout")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        # httpx bounds each read, not the request: a first-token wait longer than the
        # budget would outlive it, so both phases get at most the budget too.
        phases = chat.settings.timeouts
        merged["timeouts"] = {
            **merged.get("timeouts", {}),
            "total": float(timeout),
            "connect": min(phases.connect, float(timeout)),
            "first_token": min(phases.first_token, float(timeout)),
        }
    return merged


def _texts(query: Any) -> list[str]:
    if isinstance(query, str):
        return [query]
    if isinstance(query, list | tuple) and query and all(isinstance(q, str) for q in query):
        return list(query)
    raise TypeError("task_type='embeddings' takes a text or a list of texts")


def _vectors(
    embeddings: OpenMuxEmbeddings, query: Any, vectors: list[list[float]], meta: dict[str, Any]
) -> dict[str, Any]:
    """The result of an embeddings request: `response` is the vector (a list for a list)."""
    model = meta["model"]
    how = "pinned" if embeddings.model else "the configuration's embedding model"
    return {
        "response": vectors[0] if isinstance(query, str) else vectors,
        "model": model,
        "provider": meta["provider"],
        "task": str(TaskType.EMBEDDINGS),
        "confidence": 1.0,
        "reasoning": f"task_type='embeddings' was asked for; {model} is {how}",
        "latency_ms": meta["latency_ms"],
        "attempts": meta["attempts"],
        "usage": None,  # embedding APIs report no usage through LangChain
    }


def _combiner_for(combination_method: str, num_models: int) -> str:
    from openmux.combiners import COMBINERS

    if isinstance(num_models, bool) or not isinstance(num_models, int) or num_models < 1:
        raise ValueError(f"num_models must be a whole number of at least 1, got {num_models!r}")
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
        result["fanout_requested"] = meta["fanout_requested"]
        result["fanout_used"] = meta["fanout_used"]
    return result
