"""Graph nodes that skip run bookkeeping when nobody observes the run.

Each LangChain Runnable layer configures callbacks, opens and closes a run and
inspects signatures: about as much work per layer as the provider SDK's own
request building. When ChatOpenMux's run has no handlers at all (no callbacks,
no tracer, no event stream), it passes the `QUIET` config, and these
subclasses run the same nodes with the same semantics minus that bookkeeping.
With any observer the stock LangChain code runs, so traces are unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

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
        output = self.func(input)
        return await output.ainvoke(input, config) if isinstance(output, Runnable) else output

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
        output = self.func(input)
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
