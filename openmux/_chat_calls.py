"""What one call of ChatOpenMux is made of, below the model class: the per-call
keywords it accepts, OpenAI's forms of tool choice and structured output, the chunks and
generation info of its answer, and the callback hooks kept out of its inner runs."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import copy_context
from operator import itemgetter
from typing import Any
from uuid import uuid4

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    convert_to_messages,
)
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import (
    JsonOutputKeyToolsParser,
    PydanticToolsParser,
)
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.tracers import BaseTracer
from langchain_core.utils.function_calling import (
    convert_to_openai_function,
    convert_to_openai_tool,
)
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import BaseModel

from openmux._suggest import unknown_key_fix
from openmux._text import refuse_lone_surrogate
from openmux.errors import ConfigError
from openmux.providers import MEDIA_OPTIONS
from openmux.routing import RouteRequest

try:  # the generation_info entry langchain-core's tracer reads a routed model from
    from langchain_core.utils._gateway import GATEWAY_METADATA_RESPONSE_KEY

    ROUTED_MODEL_KEY: str | None = GATEWAY_METADATA_RESPONSE_KEY
except ImportError:  # an older langchain-core: the run keeps the model named before the call
    ROUTED_MODEL_KEY = None

# Per-call options that steer the router rather than the provider.
ROUTING_KWARGS = ("task", "model", "provider", "profile", "cache", "openai_body")
FANOUT_KWARGS = ("fanout", "combiner", "judge", "min_answers", "member_timeout")
# Per-call options for the provider: OpenAI chat-completion parameters (the wire format of
# most providers; quirks rows adapt them for the others) and what LangChain itself passes
# (bound tools, `stream`, `ls_structured_output_format` from with_structured_output).
_CALL_KWARGS = frozenset(
    {
        "stop",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "functions",
        "function_call",
        "response_format",
        "strict",
        "temperature",
        "top_p",
        "top_k",
        "max_tokens",
        "max_completion_tokens",
        "seed",
        "n",
        "frequency_penalty",
        "presence_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "reasoning_effort",
        "reasoning",
        "verbosity",
        "modalities",
        "audio",
        "prediction",
        "service_tier",
        "user",
        "extra_body",
        "stream",
        "stream_options",
        "ls_structured_output_format",
        # what a media model takes (openmux.media): image size, speech voice and format,
        # the language spoken or to speak
        *MEDIA_OPTIONS,
    }
)
_PER_CALL = frozenset({*ROUTING_KWARGS, *FANOUT_KWARGS, *_CALL_KWARGS})


def response_format(
    schema: dict[str, Any] | type | None, method: str, strict: bool | None
) -> dict[str, Any]:
    """OpenAI's `response_format` for a structured-output method (a plain dict, so every
    provider adapter can read it)."""
    if method == "json_mode":
        return {"type": "json_object"}
    assert schema is not None
    if isinstance(schema, dict) and schema.get("type") == "json_schema":
        return schema
    function = convert_to_openai_function(schema, strict=strict)
    block: dict[str, Any] = {"name": function["name"], "schema": function["parameters"]}
    if function.get("description"):
        block["description"] = function["description"]
    if strict is not None:
        block["strict"] = strict
    return {"type": "json_schema", "json_schema": block}


@contextmanager
def hooks_unset() -> Iterator[None]:
    """Handlers that langchain-core's configure hooks add to every run (the one of
    `get_usage_metadata_callback()`, say) would also join the provider's own run inside
    this one, and count its tokens a second time. Unset while the pipeline starts its runs,
    they see this run only; tracers still see the inner run, through the run's config."""
    tokens = [
        (var, var.set(None))
        for var, value in copy_context().items()
        if isinstance(value, BaseCallbackHandler) and not isinstance(value, BaseTracer)
    ]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def unset_hooks_each(chunks: Iterator[BaseMessage]) -> Iterator[BaseMessage]:
    # Unset for each step only: between chunks the caller's context is its own again.
    while True:
        with hooks_unset():
            chunk = next(chunks, None)
        if chunk is None:
            return
        yield chunk


async def aunset_hooks_each(chunks: AsyncIterator[BaseMessage]) -> AsyncIterator[BaseMessage]:
    while True:
        with hooks_unset():
            chunk = await anext(chunks, None)
        if chunk is None:
            return
        yield chunk


def qualified_name(obj: Any) -> str:
    kind = obj if callable(obj) and hasattr(obj, "__qualname__") else type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def check_call_kwargs(kwargs: Mapping[str, Any]) -> None:
    """A caller's mistake fails here, before anything is sent: it is no provider's fault,
    and must not bench one."""
    for name in kwargs:
        if name not in _PER_CALL:
            raise TypeError(
                f"ChatOpenMux got an unexpected per-call keyword argument {name!r}; "
                f"{unknown_key_fix(name, _PER_CALL)}"
            )


_SAMPLING = ("temperature", "top_p", "frequency_penalty", "presence_penalty")


def check_call_values(call_kwargs: Mapping[str, Any]) -> None:
    """Values no provider can take, refused here (as the server refuses them) rather than
    blamed on each provider in turn: a budget of no tokens gets an empty answer at best,
    and an empty answer counts against the provider; a NaN cannot be encoded as JSON."""
    for name in ("max_tokens", "max_completion_tokens"):
        value = call_kwargs.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{name} must be a whole number, got {value!r}", source=f"{name}=")
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}", source=f"{name}=")
    for name in _SAMPLING:
        value = call_kwargs.get(name)
        if value is not None and not (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ):
            raise ConfigError(f"{name} must be a finite number, got {value!r}", source=f"{name}=")


def check_text(messages: Sequence[BaseMessage]) -> None:
    """Raise the error for the first message or message text no request can carry."""
    for index, message in enumerate(messages):
        if isinstance(message, RemoveMessage):
            # LangGraph's instruction to drop a message from its state: each client failed
            # on it its own way, and the local model read it as an empty user turn.
            raise ValueError(
                f"message {index} is a RemoveMessage, an edit of a graph's state rather than "
                "a turn: apply it to the messages (LangGraph's add_messages does) first"
            )
        content = message.content
        for block in [content] if isinstance(content, str) else content:
            text = block.get("text") if isinstance(block, dict) else block
            if isinstance(text, str):
                refuse_lone_surrogate(text, f"message {index}")


def openai_tool_choice(
    choice: str | dict[str, Any] | bool, tools: list[dict[str, Any]]
) -> str | dict[str, Any]:
    if isinstance(choice, dict):
        return choice
    if choice is True or choice == "any":
        return "required"
    if choice in ("auto", "none", "required"):
        return str(choice)
    names = [tool["function"]["name"] for tool in tools]
    if choice not in names:
        raise ValueError(f"tool_choice {choice!r} names no bound tool; bound: {', '.join(names)}")
    return {"type": "function", "function": {"name": choice}}


def generation_chunk(chunk: BaseMessage) -> ChatGenerationChunk:
    return ChatGenerationChunk(message=routed_chunk(chunk))


def routed_chunk(chunk: BaseMessage) -> AIMessageChunk:
    if not isinstance(chunk, AIMessageChunk):
        chunk = AIMessageChunk(content=chunk.content)
    # The inner model's chunk ids belong to its own run; ours get the outer run's id. Its
    # last chunk is not the stream's last: the metadata chunk follows, with the usage.
    return chunk.model_copy(update={"id": None, "chunk_position": None, "usage_metadata": None})


def metadata_chunk(request: RouteRequest, usage: Sequence[Any]) -> ChatGenerationChunk:
    # The metadata and the usage (what the streamed chunks carried, summed) ride on the
    # last chunk only, so the merged message holds them once, as invoke's message does.
    from langchain_core.messages.ai import add_usage

    total = None
    for part in usage:
        if part:
            total = add_usage(total, part)
    message = AIMessageChunk(
        content="",
        response_metadata={"openmux": request.metadata()},
        usage_metadata=total,
        chunk_position="last",
    )
    return ChatGenerationChunk(message=message, generation_info=answered_by(message))


def answered_by(message: BaseMessage) -> dict[str, Any] | None:
    """Who answered, where LangChain's tracer looks for the model a gateway routed to: it
    replaces the run's `ls_model_name` and `ls_provider` (set before the call) with them."""
    meta = message.response_metadata.get("openmux") or {}
    if ROUTED_MODEL_KEY is None or not meta.get("model"):
        return None
    return {ROUTED_MODEL_KEY: {"model": meta["model"], "provider": meta["provider"]}}


_CHAT_INPUT = "a chat input is a text, a list of messages or a PromptValue"


def to_messages(input: LanguageModelInput) -> list[BaseMessage]:
    """What BaseChatModel makes of its input: a string, a PromptValue or messages.

    Anything else, or no message at all, is a ValueError naming what to pass, where
    LangChain would read a dict's keys as two messages ("role", "content") or fail deep
    inside on a number."""
    if isinstance(input, str):
        return [HumanMessage(content=input)]
    if isinstance(input, PromptValue):
        messages = input.to_messages()
    elif not isinstance(input, Sequence) or isinstance(input, bytes | bytearray):
        hint = "; for one message as a dict, pass a list of it" if isinstance(input, dict) else ""
        raise ValueError(f"{_CHAT_INPUT}, not {type(input).__name__}{hint}")
    else:
        messages = []
        for index, item in enumerate(input):
            try:
                messages += convert_to_messages([item])
            except NotImplementedError:
                raise ValueError(
                    f"{_CHAT_INPUT}; item {index} is {type(item).__name__}, not a message"
                ) from None
    if not messages:
        # Providers refuse it, each at the cost of a request of its free allowance.
        raise ValueError("the chat input holds no message: pass a text or at least one message")
    return messages


def with_run_id(message: AIMessage) -> AIMessage:
    # The id BaseChatModel.invoke gives a message that has none: "lc_run-<run id>-<index>".
    if message.id is None:
        message.id = f"lc_run-{uuid4()}-0"
    return message


def structured_json(
    llm: BaseChatModel,
    schema: dict[str, Any] | type | None,
    method: str,
    *,
    include_raw: bool,
    strict: bool | None,
) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
    """`with_structured_output` by `response_format` (json_schema or json_mode): bind it,
    then parse the answer (with `include_raw`, a parsing error is returned, not raised)."""
    bound = llm.bind(
        response_format=response_format(schema, method, strict),
        ls_structured_output_format={
            "kwargs": {"method": method, "strict": strict},
            "schema": schema,
        },
    )
    parser: Runnable[Any, Any] = (
        PydanticOutputParser(pydantic_object=schema)
        if isinstance(schema, type) and issubclass(schema, BaseModel)
        else JsonOutputParser()
    )
    return parsed_answer(bound, parser, include_raw=include_raw)


def structured_tool_call(
    llm: BaseChatModel,
    schema: dict[str, Any] | type,
    *,
    include_raw: bool,
    strict: bool | None,
) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
    """`with_structured_output` by a forced tool call. BaseChatModel's own drops `strict`;
    this one binds the tool with it, as ChatOpenAI does."""
    bound = llm.bind_tools(
        [schema],
        tool_choice="any",
        strict=strict,
        ls_structured_output_format={
            "kwargs": {"method": "function_calling", "strict": strict},
            "schema": schema,
        },
    )
    parser: Runnable[Any, Any] = (
        PydanticToolsParser(tools=[schema], first_tool_only=True)
        if isinstance(schema, type) and is_basemodel_subclass(schema)  # pydantic.v1 too
        else JsonOutputKeyToolsParser(
            key_name=convert_to_openai_tool(schema)["function"]["name"], first_tool_only=True
        )
    )
    return parsed_answer(bound, parser, include_raw=include_raw)


def parsed_answer(
    bound: Runnable[LanguageModelInput, Any], parser: Runnable[Any, Any], *, include_raw: bool
) -> Runnable[LanguageModelInput, Any]:
    """The answer through `parser` (with `include_raw`, a parsing error is returned, not
    raised, beside the raw message)."""
    if not include_raw:
        return bound | parser
    parsed = RunnablePassthrough.assign(
        parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
    )
    unparsed = RunnablePassthrough.assign(parsed=lambda _: None)
    return RunnableMap(raw=bound) | parsed.with_fallbacks([unparsed], exception_key="parsing_error")
