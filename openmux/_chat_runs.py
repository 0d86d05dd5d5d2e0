"""How one run of ChatOpenMux is framed, below the model class: whether anybody can see
it, the parent of its inner runs, its LangSmith parameters, the metadata on its answer
and its audit record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.globals import get_llm_cache
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.chat_models import LangSmithParams
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig

from openmux._chat_calls import answered_by
from openmux.config import PrivacySettings, Settings
from openmux.privacy import audit_request
from openmux.routing import RouteRequest, split_model_name


def is_observed(model: BaseChatModel, config: RunnableConfig, kwargs: Mapping[str, Any]) -> bool:
    """Would BaseChatModel.invoke do more than bookkeeping (a handler to tell, a cache,
    a rate limiter, streaming, v1 output)?"""
    cache = model.cache
    if (
        (cache is not False and (cache is not None or get_llm_cache() is not None))
        or model.rate_limiter is not None
        or model.output_version == "v1"
        or kwargs.get("stream")
    ):
        return True
    callbacks = CallbackManager.configure(
        config.get("callbacks"),
        model.callbacks,
        model.verbose,
        config.get("tags"),
        model.tags,
        config.get("metadata"),
        model.metadata,
    )
    return bool(callbacks.handlers)


def child_config(
    run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
) -> RunnableConfig | None:
    """The pipeline's runs become children of this run; None when nobody can see them."""
    if run_manager is None or not (run_manager.handlers or run_manager.inheritable_handlers):
        return None
    # LLM run managers have no get_child(); this is what ParentRunManager.get_child does.
    children = CallbackManager(handlers=[], parent_run_id=run_manager.run_id)
    children.set_handlers(run_manager.inheritable_handlers)
    children.add_tags(run_manager.inheritable_tags)
    children.add_metadata(run_manager.inheritable_metadata)
    return {"callbacks": children}


def ls_params(
    settings: Settings,
    *,
    provider: str | None,
    model: str | None,
    temperature: float | None,
    max_tokens: int | None,
    stop: list[str] | None,
) -> LangSmithParams:
    """Before the call only a pin names the model; the answer names the one that answered
    (`answered_by`), and LangChain's tracer puts it on the run."""
    if model:
        pinned, model = split_model_name(model, settings)
        provider = pinned or provider
    params = LangSmithParams(
        ls_provider=provider or "openmux", ls_model_name=model or "auto", ls_model_type="chat"
    )
    if temperature is not None:
        params["ls_temperature"] = temperature
    if max_tokens is not None:
        params["ls_max_tokens"] = max_tokens
    if stop:
        params["ls_stop"] = stop
    return params


def with_route_metadata(message: BaseMessage, request: RouteRequest) -> AIMessage:
    """The answer as an AIMessage carrying the request's routing metadata."""
    if not isinstance(message, AIMessage):
        message = AIMessage(content=message.content)
    message.response_metadata = {**message.response_metadata, "openmux": request.metadata()}
    return message


def chat_result(message: BaseMessage, request: RouteRequest) -> ChatResult:
    """`_generate`'s result: the answer with its metadata, and who answered for the tracer."""
    done = with_route_metadata(message, request)
    return ChatResult(generations=[ChatGeneration(message=done, generation_info=answered_by(done))])


class Audited:
    """Write the audit record of this request (when `[privacy] audit_log` is set), on
    success and on failure alike; the caller appends the usage it sees. A class: it runs
    around every call, and a `contextmanager` generator costs about four times as much."""

    __slots__ = ("privacy", "request", "usage")

    def __init__(self, privacy: PrivacySettings, request: RouteRequest) -> None:
        self.privacy = privacy
        self.request = request
        self.usage: list[Any] = []

    def __enter__(self) -> list[Any]:
        return self.usage

    def __exit__(self, *exc: object) -> None:
        if self.privacy.audit_log is None:
            return
        from langchain_core.messages.ai import add_usage

        total = None
        for part in self.usage:
            if part:
                total = add_usage(total, part)
        audit_request(self.privacy, self.request.metadata(), total, self.request.messages)


def check_structured_method(schema: Any, method: str, unexpected: Mapping[str, Any]) -> None:
    """with_structured_output's arguments: one clear error for each wrong one."""
    if unexpected:
        raise TypeError(
            f"with_structured_output() got unexpected arguments: {', '.join(unexpected)} "
            "(it takes schema, method, include_raw and strict)"
        )
    if method not in ("function_calling", "json_mode", "json_schema"):
        raise ValueError(
            f"unknown method {method!r}: use function_calling, json_schema or json_mode"
        )
    if method in ("function_calling", "json_schema") and schema is None:
        raise ValueError(f"method={method!r} needs a schema")
