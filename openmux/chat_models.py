"""ChatOpenMux: a LangChain chat model that answers from the best free model available."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.chat_models import LangSmithParams
from langchain_core.load.serializable import SerializedConstructor, SerializedNotImplemented
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    BaseMessageChunk,
)
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.prompt_values import ChatPromptValue, PromptValue
from langchain_core.runnables import (
    Runnable,
    RunnableConfig,
    ensure_config,
)
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import (
    convert_to_openai_tool,
)
from pydantic import BaseModel, PrivateAttr

from openmux._built import BuiltFromFields
from openmux._chat_calls import (
    FANOUT_KWARGS,
    ROUTING_KWARGS,
    aunset_hooks_each,
    check_call_kwargs,
    check_call_values,
    check_text,
    generation_chunk,
    hooks_unset,
    metadata_chunk,
    openai_tool_choice,
    qualified_name,
    routed_chunk,
    structured_json,
    structured_tool_call,
    to_messages,
    unset_hooks_each,
    with_run_id,
)
from openmux._chat_fields import ChatOpenMuxFields
from openmux._chat_runs import (
    Audited,
    chat_result,
    check_structured_method,
    child_config,
    is_observed,
    ls_params,
    with_route_metadata,
)
from openmux.config import (
    SETTING_ARGUMENTS,
    Settings,
    answer_fingerprint,
    argument_overrides,
    load_settings,
)
from openmux.quality import LocalQuality, remember_answer
from openmux.routing import (
    FanoutRequest,
    Router,
    RouteRequest,
    aanswer,
    afanout_answer,
    answer,
    astream_answer,
    astream_fanout_answer,
    build_graph,
    check_fanout_options,
    fanout_answer,
    fanout_graph,
    fanout_request,
    stream_answer,
    stream_fanout_answer,
    text_tokens,
)


class ChatOpenMux(ChatOpenMuxFields):
    """Routes each request to the best free model that can do it, failing over on errors.

    Example:
        ```python
        from openmux import ChatOpenMux

        llm = ChatOpenMux()
        llm.invoke("Write a haiku about routers").content
        llm.invoke("Reverse a string in Go", task="code")
        ```

    Every answer carries `response_metadata["openmux"]`: the task, the chosen
    provider and model, the reason, latency and every attempt made.
    """

    _built: BuiltFromFields = PrivateAttr(default_factory=BuiltFromFields)

    def model_post_init(self, context: Any, /) -> None:
        # Validate configuration now, so mistakes surface at construction.
        _ = self.settings
        check_fanout_options(self.fanout, self.combiner, self.min_answers, self.member_timeout)
        check_call_values({"max_tokens": self.max_tokens, "temperature": self.temperature})

    def _load_settings(self) -> Settings:
        arguments = {name: getattr(self, name) for name in SETTING_ARGUMENTS}
        if self.max_attempts is None and self.max_retries is not None:
            arguments["max_attempts"] = self.max_retries + 1
        overrides = argument_overrides(self.config, arguments)
        return load_settings(overrides, api_keys=self.api_keys, offline=self.offline)

    def _own_built(self) -> BuiltFromFields:
        # Read from pydantic's own dict: `self._built` goes through BaseModel.__getattr__,
        # which costs more than the rest of this on every request.
        built: BuiltFromFields = self.__pydantic_private__["_built"]  # type: ignore[index]
        if built.owner is not self.__dict__:  # a copy: build from its own fields
            built = self._built = BuiltFromFields(self.__dict__)
        return built

    @property
    def settings(self) -> Settings:
        built = self._own_built()
        if built.settings is None:
            built.settings = self._load_settings()
        return built.settings

    @property
    def router(self) -> Router:
        built = self._own_built()
        if built.router is None:
            settings = self.settings
            with built.lock:
                if built.router is None:
                    built.router = Router(settings, classifier=self.classifier)
        return built.router

    def _traced_graph(self, request: RouteRequest) -> Runnable[Any, BaseMessage]:
        """The pipeline as LangChain Runnables (fan-out's for a fan-out request)."""
        if isinstance(request, FanoutRequest):
            return fanout_graph(self.router)
        built = self._own_built()
        if built.graph is None:
            router = self.router
            with built.lock:
                if built.graph is None:
                    built.graph = build_graph(router)
        return built.graph

    @property
    def _llm_type(self) -> str:
        return "openmux"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        """Everything of this instance that can change an answer: the LLM cache's key."""
        classifier = self.classifier
        return {
            "model": self.model,
            "provider": self.provider,
            "task": self.task,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stop": self.stop,
            "fanout": self.fanout,
            "combiner": self.combiner,
            "judge": self.judge,
            "min_answers": self.min_answers,
            "member_timeout": self.member_timeout,
            "classifier": None if classifier is None else qualified_name(classifier),
            "settings": self._answer_fingerprint(),
        }

    def _answer_fingerprint(self) -> str:
        built = self._own_built()
        if built.fingerprint is None:
            built.fingerprint = answer_fingerprint(self.settings)
        return built.fingerprint

    def _get_llm_string(self, stop: list[str] | None = None, **kwargs: Any) -> str:
        # For a serializable model langchain-core keys the cache by the constructor
        # arguments alone, and keeps them from before a model_copy(update=...); the settings
        # also come from the config file, .env and the environment.
        params = sorted(self._identifying_params.items())
        return f"{super()._get_llm_string(stop=stop, **kwargs)}---openmux:{params}"

    # -- serialization (langchain_core.load) ------------------------------------------------

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    def to_json(self) -> SerializedConstructor | SerializedNotImplemented:
        # Keys are never serialized (a loaded model reads them from the environment, as
        # every model does); a classifier object has no serialized form.
        if self.classifier is not None:
            return self.to_json_not_implemented()
        return super().to_json()

    def get_num_tokens(self, text: str) -> int:
        """Estimated here, as the router estimates a prompt: BaseChatModel's count needs
        transformers and downloads a tokenizer. `custom_get_token_ids` still counts."""
        if self.custom_get_token_ids is not None:
            return super().get_num_tokens(text)
        return text_tokens(text)

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return ls_params(
            self.settings,
            provider=kwargs.get("provider") or self.provider,
            model=kwargs.get("model") or self.model,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            stop=stop or self.stop,
        )

    # -- requests -------------------------------------------------------------------------
    # With no handler, cache or rate limiter, nothing can see this run: invoke then calls
    # the pipeline's stages directly, skipping BaseChatModel's run bookkeeping (the
    # returned message is the same; tests compare them).

    def _convert_input(self, model_input: LanguageModelInput) -> PromptValue:
        # Observed runs and streams convert here: the same rules as unobserved invokes.
        return ChatPromptValue(messages=to_messages(model_input))

    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        config = ensure_config(config)
        if is_observed(self, config, kwargs):
            return self._remembered(super().invoke(input, config, stop=stop, **kwargs))
        request = self._request(to_messages(input), stop, kwargs)
        with Audited(self.settings.privacy, request) as usage:
            message = self._unobserved(request)
            usage.append(getattr(message, "usage_metadata", None))
        message = with_run_id(with_route_metadata(message, request))
        request.settle(self._remembered, message)
        return message

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        config = ensure_config(config)
        if is_observed(self, config, kwargs):
            return self._remembered(await super().ainvoke(input, config, stop=stop, **kwargs))
        return await self.aanswer_request(self._request(to_messages(input), stop, kwargs))

    # The OpenAI-compatible server's way in: it builds the request (`route_request`), then
    # reads the route from it as it forms (a stream's headers leave with its first chunk).

    def route_request(self, messages: list[BaseMessage], **kwargs: Any) -> RouteRequest:
        """The request `invoke(messages, **kwargs)` routes, for an unobserved run."""
        return self._request(messages, None, kwargs)

    async def aanswer_request(self, request: RouteRequest) -> AIMessage:
        """`ainvoke`'s answer to a `route_request` request."""
        with Audited(self.settings.privacy, request) as usage:
            message = await self._aunobserved(request)
            usage.append(getattr(message, "usage_metadata", None))
        message = with_run_id(with_route_metadata(message, request))
        request.settle(self._remembered, message)
        return message

    async def astream_request(self, request: RouteRequest) -> AsyncIterator[BaseMessageChunk]:
        """`astream`'s chunks for a `route_request` request; the last one holds the metadata."""
        with Audited(self.settings.privacy, request) as usage:
            async for chunk in aunset_hooks_each(self._astream_unobserved(request)):
                usage.append(getattr(chunk, "usage_metadata", None))
                yield routed_chunk(chunk)
        last = metadata_chunk(request, usage).message
        yield self._remembered(last)

    def _astream_unobserved(self, request: RouteRequest) -> AsyncIterator[BaseMessage]:
        if isinstance(request, FanoutRequest):
            return astream_fanout_answer(self.router, request)
        return astream_answer(self.router, request)

    def _unobserved(self, request: RouteRequest) -> BaseMessage:
        if isinstance(request, FanoutRequest):
            return fanout_answer(self.router, request)
        return answer(self.router, request)

    async def _aunobserved(self, request: RouteRequest) -> BaseMessage:
        if isinstance(request, FanoutRequest):
            return await afanout_answer(self.router, request)
        return await aanswer(self.router, request)

    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> RouteRequest:
        check_call_kwargs(kwargs)
        routing = {key: kwargs.pop(key, None) for key in ROUTING_KWARGS}
        fan = {key: kwargs.pop(key, None) for key in FANOUT_KWARGS}
        call_kwargs = dict(kwargs)
        if stop or self.stop:
            call_kwargs["stop"] = stop or self.stop
        if self.temperature is not None:
            call_kwargs.setdefault("temperature", self.temperature)
        if self.max_tokens is not None:
            call_kwargs.setdefault("max_tokens", self.max_tokens)
        check_call_values(call_kwargs)
        if routing["openai_body"] is None:  # a served body was read as JSON: it is text
            check_text(messages)
        request = RouteRequest(
            messages=messages,
            call_kwargs=call_kwargs,
            task=routing["task"] or self.task,
            model=routing["model"] or self.model,
            provider=routing["provider"] or self.provider,
            profile=bool(routing["profile"]),
            cache_scope=self._cache_scope(routing["cache"]),
            openai_body=routing["openai_body"],
        )
        fanout = fan["fanout"] if fan["fanout"] is not None else self.fanout
        if not fanout:
            return request
        return fanout_request(
            request,
            fanout=fanout,
            combiner=fan["combiner"] or self.combiner,
            judge=fan["judge"] or self.judge,
            min_answers=fan["min_answers"] or self.min_answers,
            member_timeout=fan["member_timeout"] or self.member_timeout,
        )

    def _cache_scope(self, per_call: bool | None) -> dict[str, Any] | None:
        """What the response cache keys on besides the request (None: `cache=False`, per
        call or on the instance, keeps the response cache out of it too)."""
        if per_call is False or self.cache is False or self.settings.cache.mode == "off":
            return None
        return self._identifying_params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._request(messages, stop, kwargs)
        config = child_config(run_manager)
        with Audited(self.settings.privacy, request) as usage, hooks_unset():
            if config is None:
                message = self._unobserved(request)
            else:
                message = self._traced_graph(request).invoke(request, config)
            usage.append(getattr(message, "usage_metadata", None))
        return chat_result(message, request)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._request(messages, stop, kwargs)
        config = child_config(run_manager)
        with Audited(self.settings.privacy, request) as usage, hooks_unset():
            if config is None:
                message = await self._aunobserved(request)
            else:
                message = await self._traced_graph(request).ainvoke(request, config)
            usage.append(getattr(message, "usage_metadata", None))
        return chat_result(message, request)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        request = self._request(messages, stop, kwargs)
        config = child_config(run_manager)
        if config is not None:
            chunks = self._traced_graph(request).stream(request, config)
        elif isinstance(request, FanoutRequest):
            chunks = stream_fanout_answer(self.router, request)
        else:
            chunks = stream_answer(self.router, request)
        with Audited(self.settings.privacy, request) as usage:
            for chunk in unset_hooks_each(chunks):
                generation = generation_chunk(chunk)
                usage.append(getattr(chunk, "usage_metadata", None))
                if run_manager:
                    run_manager.on_llm_new_token(generation.text, chunk=generation)
                yield generation
        last = metadata_chunk(request, usage)
        yield last
        # BaseChatModel.stream gave the chunk the run's id before passing it on.
        self._remembered(last.message)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        request = self._request(messages, stop, kwargs)
        config = child_config(run_manager)
        if config is not None:
            achunks = self._traced_graph(request).astream(request, config)
        else:
            achunks = self._astream_unobserved(request)
        with Audited(self.settings.privacy, request) as usage:
            async for chunk in aunset_hooks_each(achunks):
                generation = generation_chunk(chunk)
                usage.append(getattr(chunk, "usage_metadata", None))
                if run_manager:
                    await run_manager.on_llm_new_token(generation.text, chunk=generation)
                yield generation
        last = metadata_chunk(request, usage)
        yield last
        # BaseChatModel.stream gave the chunk the run's id before passing it on.
        self._remembered(last.message)

    # -- votes (openmux.quality) -----------------------------------------------------------

    def _remembered(self, message: BaseMessage) -> Any:
        """Note who answered this run, so `feedback(message.id, ...)` can grade it."""
        remember_answer(
            message.id, message.response_metadata.get("openmux"), self.settings.state_dir
        )
        return message

    def feedback(self, run_id: str | BaseMessage, *, good: bool) -> LocalQuality:
        """Vote on an answer (its message, or its id `message.id`): shifts that model's score
        for the task, within bounds, in the next selections. Returns the model's evidence."""
        from openmux.quality import vote

        if isinstance(run_id, BaseMessage):
            meta = run_id.response_metadata.get("openmux")
            key = run_id.id or f"message-{id(run_id)}"
            if remember_answer(key, meta, self.settings.state_dir) is None:
                raise ValueError("feedback: this message carries no OpenMux routing metadata")
            run_id = key
        return vote(run_id, good, self.settings.state_dir)[1]

    # -- tools ----------------------------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[Mapping[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools in OpenAI format; the router then picks only tool-capable models.

        `strict` marks each tool's schema strict, as ChatOpenAI's `bind_tools` does."""
        formatted = [convert_to_openai_tool(tool, strict=strict) for tool in tools]
        if tool_choice is not None and tool_choice is not False:
            kwargs["tool_choice"] = openai_tool_choice(tool_choice, formatted)
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: Literal["function_calling", "json_mode", "json_schema"] = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Answers shaped by `schema`, by the chosen method.

        `function_calling` (the default) forces a tool call, so only tool-capable models
        are chosen; `json_schema` and `json_mode` send OpenAI's `response_format`, so only
        models that take it are chosen (tools are not needed)."""
        check_structured_method(schema, method, kwargs)
        if method == "function_calling":
            assert schema is not None  # checked
            return structured_tool_call(self, schema, include_raw=include_raw, strict=strict)
        return structured_json(self, schema, method, include_raw=include_raw, strict=strict)
