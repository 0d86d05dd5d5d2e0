"""Graph nodes that skip run bookkeeping when nobody observes the run.

Each LangChain Runnable layer configures callbacks, opens and closes a run and
inspects signatures: about as much work per layer as the provider SDK's own
request building. When ChatOpenMux's run has no handlers at all (no callbacks,
no tracer, no event stream), it passes the `QUIET` config, and these
subclasses run the same nodes with the same semantics minus that bookkeeping.
With any observer the stock LangChain code runs, so traces are unchanged.

The same holds for chat models: `BaseChatModel.invoke` spends about as long on
callbacks, invocation parameters and LangSmith parameters as the SDK spends
building the request. `generate_unobserved` calls `_generate` directly and
adds what `invoke` adds to the message itself; where `invoke` would do more
than bookkeeping (a cache, a rate limiter, streaming, v1 output), callers use
`invoke`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, cast
from uuid import uuid4

from langchain_core.globals import get_llm_cache
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import (
    Runnable,
    RunnableBranch,
    RunnableConfig,
    RunnableLambda,
    RunnableSequence,
    RunnableWithFallbacks,
)

QUIET: RunnableConfig = {"callbacks": None, "tags": [], "metadata": {}, "configurable": {}}


class Step(RunnableLambda):
    """A node function; when it returns a Runnable, that Runnable runs on the same input."""

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if config is not QUIET:
            return super().invoke(input, config, **kwargs)
        output = self.func(input)
        return output.invoke(input, config) if isinstance(output, Runnable) else output

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if config is not QUIET:
            return await super().ainvoke(input, config, **kwargs)
        output = await self._acall(input)
        return await output.ainvoke(input, config) if isinstance(output, Runnable) else output

    async def _acall(self, input: Any) -> Any:
        afunc = getattr(self, "afunc", None)  # set only when the node has an async form
        return await afunc(input) if afunc is not None else self.func(input)

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        if config is not QUIET:
            yield from super().stream(input, config, **kwargs)
            return
        output = self.func(input)
        if isinstance(output, Runnable):
            yield from output.stream(input, config)
        else:
            yield output

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        if config is not QUIET:
            async for chunk in super().astream(input, config, **kwargs):
                yield chunk
            return
        output = await self._acall(input)
        if isinstance(output, Runnable):
            async for chunk in output.astream(input, config):
                yield chunk
        else:
            yield output


class Branch(RunnableBranch):
    def _chosen(self, input: Any, config: RunnableConfig) -> Runnable[Any, Any]:
        for condition, runnable in self.branches:
            if condition.invoke(input, config):
                return runnable
        return self.default

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if config is not QUIET:
            return super().invoke(input, config, **kwargs)
        return self._chosen(input, config).invoke(input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if config is not QUIET:
            return await super().ainvoke(input, config, **kwargs)
        return await self._chosen(input, config).ainvoke(input, config)

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        if config is not QUIET:
            yield from super().stream(input, config, **kwargs)
            return
        yield from self._chosen(input, config).stream(input, config)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        if config is not QUIET:
            async for chunk in super().astream(input, config, **kwargs):
                yield chunk
            return
        async for chunk in self._chosen(input, config).astream(input, config):
            yield chunk


class Pipeline(RunnableSequence):
    """A sequence whose steps before the last take the whole input (as lambdas do)."""

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if config is not QUIET:
            return super().invoke(input, config, **kwargs)
        for step in self.steps:
            input = step.invoke(input, config)
        return input

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if config is not QUIET:
            return await super().ainvoke(input, config, **kwargs)
        for step in self.steps:
            input = await step.ainvoke(input, config)
        return input

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        if config is not QUIET:
            yield from super().stream(input, config, **kwargs)
            return
        for step in self.steps[:-1]:
            input = step.invoke(input, config)
        yield from self.steps[-1].stream(input, config)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        if config is not QUIET:
            async for chunk in super().astream(input, config, **kwargs):
                yield chunk
            return
        for step in self.steps[:-1]:
            input = await step.ainvoke(input, config)
        async for chunk in self.steps[-1].astream(input, config):
            yield chunk


class Failover(RunnableWithFallbacks):
    """with_fallbacks; streaming fails over only until the first chunk, as LangChain's does."""

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if config is not QUIET:
            return super().invoke(input, config, **kwargs)
        first_error: BaseException | None = None
        for runnable in self.runnables:
            try:
                return runnable.invoke(input, config)
            except self.exceptions_to_handle as error:
                first_error = first_error or error
        assert first_error is not None
        raise first_error

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if config is not QUIET:
            return await super().ainvoke(input, config, **kwargs)
        first_error: BaseException | None = None
        for runnable in self.runnables:
            try:
                return await runnable.ainvoke(input, config)
            except self.exceptions_to_handle as error:
                first_error = first_error or error
        assert first_error is not None
        raise first_error

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        if config is not QUIET:
            yield from super().stream(input, config, **kwargs)
            return
        first_error: BaseException | None = None
        for runnable in self.runnables:
            stream = runnable.stream(input, config)
            try:
                first = next(stream)
            except self.exceptions_to_handle as error:
                first_error = first_error or error
                continue
            yield first
            yield from stream
            return
        assert first_error is not None
        raise first_error

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        if config is not QUIET:
            async for chunk in super().astream(input, config, **kwargs):
                yield chunk
            return
        first_error: BaseException | None = None
        for runnable in self.runnables:
            stream = runnable.astream(input, config)
            try:
                first = await anext(stream)
            except self.exceptions_to_handle as error:
                first_error = first_error or error
                continue
            yield first
            async for chunk in stream:
                yield chunk
            return
        assert first_error is not None
        raise first_error


# BaseChatModel.generate drops these kwargs (they only label LangSmith runs).
_LANGSMITH_KWARGS = ("ls_structured_output_format", "structured_output_format")
# What BaseChatModel keeps out of response_metadata (langchain_core.utils._gateway).
_GATEWAY_METADATA_KEY = "lc_gateway_metadata"


def plain_generate(model: BaseChatModel, kwargs: dict[str, Any]) -> bool:
    """Would `model.invoke` only add bookkeeping around `model._generate`?"""
    cache = model.cache
    return (
        (cache is False or (cache is None and get_llm_cache() is None))
        and model.rate_limiter is None
        and model.output_version != "v1"
        and not kwargs.get("stream")
        # Not getattr: on a pydantic model a missing attribute costs an exception.
        and model.__dict__.get("streaming") is not True
    )


def generate_unobserved(
    model: BaseChatModel, messages: list[BaseMessage], kwargs: dict[str, Any]
) -> AIMessage:
    """`model.invoke(messages, **kwargs)` for a run nobody observes (see `plain_generate`)."""
    return _message_of(model._generate(messages, **_without_langsmith(kwargs)))


async def agenerate_unobserved(
    model: BaseChatModel, messages: list[BaseMessage], kwargs: dict[str, Any]
) -> AIMessage:
    return _message_of(await model._agenerate(messages, **_without_langsmith(kwargs)))


def _without_langsmith(kwargs: dict[str, Any]) -> dict[str, Any]:
    if any(key in kwargs for key in _LANGSMITH_KWARGS):
        return {k: v for k, v in kwargs.items() if k not in _LANGSMITH_KWARGS}
    return kwargs


def _message_of(result: ChatResult) -> AIMessage:
    """The first generation's message, with the metadata and id `invoke` would give it."""
    generation = result.generations[0]
    message = generation.message
    metadata = {
        **{
            k: v
            for k, v in (generation.generation_info or {}).items()
            if k != _GATEWAY_METADATA_KEY
        },
        **message.response_metadata,
    }
    if len(result.generations) == 1 and result.llm_output is not None:
        metadata = {**result.llm_output, **metadata}
    message.response_metadata = metadata
    if message.id is None:
        message.id = f"lc_run-{uuid4()}-0"
    return cast("AIMessage", message)
