"""`ChatLocalGGUF`: a LangChain chat model running a GGUF file inside this process.

With no argument it runs the small instruct model that the `local` extra
installs, so OpenMux can answer with no network and no API key::

    from openmux.local import ChatLocalGGUF

    ChatLocalGGUF().invoke("Write a haiku about routers")

Two runtimes serve it: llama.cpp (`llama-cpp-python`, the `local-fast` extra)
when it is installed, otherwise a numpy forward pass that needs no compiler
(the `local` extra). The runtime is imported and the model loaded on the first
call, then kept for the life of the process and shared by every instance with
the same file and settings. `response_metadata["runtime"]` says which served.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import BaseModel, ConfigDict, Field

from openmux.local._bundled import (
    BUNDLED_CHAT_MODEL_ID,
    LocalModelUnavailable,
    bundled_chat_model_path,
)
from openmux.local._generation import GenerationChunk, LocalModel, Sampling
from openmux.local._messages import joined, to_chat_messages, tool_call, tool_call_chunks
from openmux.local._runtime import get_local_model, runtime_choice
from openmux.local._structured import fits, prompted_json, response_schema, with_instruction
from openmux.local._tools import choose_tool, tool_instruction, tool_request

__all__ = ["DEFAULT_SYSTEM_PROMPT", "ChatLocalGGUF"]

DEFAULT_SYSTEM_PROMPT = "Answer the question correctly in one short English sentence."
ENGLISH_REMINDER = "Answer in English unless asked otherwise."


class ChatLocalGGUF(BaseChatModel):
    """A chat model that runs a GGUF file in process, with llama.cpp or numpy.

    Without `model_path` it runs the bundled SmolLM2-135M-Instruct (installed
    by the `local` extra). Threads and context window follow the hardware
    unless given. The chat template comes from the GGUF metadata. Tools: the
    model chooses between answering and calling a bound tool (a grammar holds
    the choice to the tools' names), and a call's arguments are structured
    output fitted to the tool's schema.
    """

    model_config = ConfigDict(populate_by_name=True, protected_namespaces=())

    model_path: str | None = None
    """GGUF file to run; None runs the bundled model."""
    model_name: str | None = Field(default=None, alias="model")
    """Name reported in metadata; defaults to the bundled model's id or the file name."""
    n_ctx: int | None = None
    """Context window in tokens; None picks one from free memory and the model."""
    n_threads: int | None = None
    """CPU threads; None uses the physical cores found idle when the model first loads."""
    max_tokens: int | None = 512
    """Most tokens to generate; None lets the model fill its context window."""
    temperature: float = 0.0
    """Greedy by default: a model this small is most often right with its likeliest
    tokens (sampled at 0.2 it began 4 in 5 answers on France with a French phrase)."""
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT
    """Used when the conversation has no system message; when it has one, the
    reminder to answer in English is added to it. None sends the conversation as it is."""
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = 1.1
    seed: int | None = None
    stop: list[str] | None = None
    timeout: float | None = None
    """Seconds a generation may take before `LocalGenerationTimeout` is raised."""
    max_retries: int = 0
    """Accepted for interface parity; the router owns retries, and a local call has none."""
    runtime: str | None = None
    """"llama.cpp", "numpy" or "auto" (llama.cpp when installed); None reads
    `OPENMUX_LOCAL_RUNTIME`, else auto."""

    @property
    def _llm_type(self) -> str:
        return "openmux-local-gguf"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self._model_label(),
            "model_path": self.model_path,
            "n_ctx": self.n_ctx,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "local"
        params["ls_model_name"] = str(kwargs.get("model") or self._model_label())
        return params

    def _model_label(self) -> str:
        if self.model_name:
            return self.model_name
        if self.model_path:
            return Path(self.model_path).stem
        return BUNDLED_CHAT_MODEL_ID

    def _resolve_path(self) -> Path:
        if self.model_path:
            path = Path(self.model_path).expanduser()
            if not path.is_file():
                raise LocalModelUnavailable(
                    f"the GGUF model file {self.model_path} does not exist",
                    hint="pass model_path= the path of a .gguf file",
                )
            return path
        bundled = bundled_chat_model_path()
        if bundled is None:
            raise LocalModelUnavailable(
                f"the bundled local chat model ({BUNDLED_CHAT_MODEL_ID}) is not installed"
            )
        return bundled

    def load(self) -> LocalModel:
        """Load the model now (it loads on first use otherwise) and return it."""
        path, _ = self._target(None)
        return self._loaded(path)

    def _loaded(self, path: Path) -> LocalModel:
        return get_local_model(
            path, n_ctx=self.n_ctx, n_threads=self.n_threads, runtime=self.runtime
        )

    def get_num_tokens(self, text: str) -> int:
        return self.load().count_tokens(text)

    def _target(self, override: Any) -> tuple[Path, str]:
        """The file and the reported name for a call (`model=` may name another file)."""
        runtime_choice(self.runtime)  # a wrong runtime is the first thing to fix
        if override and str(override) != self._model_label():
            path = Path(str(override)).expanduser()
            if not path.is_file():
                raise LocalModelUnavailable(
                    f"no local model {override!r}: the local provider runs GGUF files",
                    hint="pass model= or model_path= the path of a .gguf file",
                )
            return path, path.stem
        return self._resolve_path(), self._model_label()

    def _run(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[str, LocalModel, Iterator[GenerationChunk], Mapping[str, Any] | None]:
        """The reply as chunks, and the tool it calls, if it calls one."""
        path, label = self._target(kwargs.get("model"))
        chat_messages = to_chat_messages(messages)
        request = tool_request(kwargs.get("tools"), kwargs.get("tool_choice"), chat_messages, label)
        model = self._loaded(path)
        timeout = kwargs.get("timeout", self.timeout)
        deadline = time.monotonic() + timeout if timeout else None
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        response_format = kwargs.get("response_format")
        tool, choosing = None, GenerationChunk("")
        if request is not None:
            tool, choosing = choose_tool(model, chat_messages, request, deadline=deadline)
        if tool is not None:
            response_format = {"type": "json_schema", "schema": tool["function"]["parameters"]}
            chat_messages = with_instruction(chat_messages, tool_instruction(tool))
        schema = response_schema(response_format)
        if schema is not None and not model.supports_grammar:
            reply = prompted_json(
                model, chat_messages, schema, max_tokens=max_tokens, deadline=deadline
            )
            return label, model, iter([reply.counting(choosing)]), tool
        sampling = Sampling(
            temperature=kwargs.get("temperature", self.temperature),
            top_p=kwargs.get("top_p", self.top_p),
            top_k=kwargs.get("top_k", self.top_k),
            repeat_penalty=kwargs.get("repeat_penalty", self.repeat_penalty),
            seed=kwargs.get("seed", self.seed),
        )
        chunks = model.chat(
            self._steered(chat_messages),
            max_tokens=max_tokens,
            sampling=sampling,
            stop=list(self.stop or []) + list(stop or []),
            grammar=model.grammar_for(response_format),
            deadline=deadline,
        )
        if schema is None:
            return label, model, (chunk.counting(choosing) for chunk in chunks), tool
        # A grammar keeps every token valid JSON, but a 135M model may repeat itself inside
        # a string until max_tokens; such a reply is asked for again the prompted way.
        reply = joined(chunks).counting(choosing)
        if not fits(reply.text, schema):
            reply = prompted_json(
                model, chat_messages, schema, max_tokens=max_tokens, deadline=deadline
            ).counting(reply)
        return label, model, iter([reply]), tool

    def _steered(self, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        """The conversation with the system prompt a small model answers best under.

        Measured on benchmarks/data/easy_questions.jsonl: with no system prompt
        SmolLM2-135M often opens in French or German and rambles; asked for one
        short English sentence it answers more questions right, in a quarter of the words.
        """
        if self.system_prompt is None:
            return messages
        if messages and messages[0]["role"] == "system":
            first = {**messages[0], "content": f"{messages[0]['content']} {ENGLISH_REMINDER}"}
            return [first, *messages[1:]]
        return [{"role": "system", "content": self.system_prompt}, *messages]

    @staticmethod
    def _final_metadata(
        label: str, model: LocalModel, last: GenerationChunk
    ) -> tuple[UsageMetadata, dict[str, Any]]:
        # cast: mypy checks for 3.10, where langchain-core's NotRequired keys read as required
        usage = cast(
            UsageMetadata,
            {
                "input_tokens": last.prompt_tokens,
                "output_tokens": last.completion_tokens,
                "total_tokens": last.prompt_tokens + last.completion_tokens,
            },
        )
        response_metadata = {
            "model_name": label,
            "finish_reason": last.finish_reason,
            "model_provider": "local",
            "runtime": model.runtime,
        }
        return usage, response_metadata

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        parts: list[str] = []
        last = GenerationChunk("")
        label, model, chunks, tool = self._run(messages, stop, kwargs)
        for chunk in chunks:
            parts.append(chunk.text)
            if chunk.text and run_manager and tool is None:
                run_manager.on_llm_new_token(chunk.text)
            last = chunk
        usage, response_metadata = self._final_metadata(label, model, last)
        text = "".join(parts)
        reply = GenerationChunk(text, finish_reason=last.finish_reason)
        tool_calls = [tool_call(reply, tool)] if tool is not None else []
        message = AIMessage(
            content="" if tool is not None else text,
            tool_calls=tool_calls,
            usage_metadata=usage,
            response_metadata=response_metadata,
        )
        return ChatResult(
            generations=[ChatGeneration(message=message)],
            llm_output={"model_name": response_metadata["model_name"]},
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        label, model, chunks, tool = self._run(messages, stop, kwargs)
        if tool is not None:  # the arguments are checked whole, then sent as one chunk
            chunks = iter([joined(chunks)])
        for chunk in chunks:
            if chunk.finish_reason is None:
                message = AIMessageChunk(content=chunk.text)
            else:
                usage, response_metadata = self._final_metadata(label, model, chunk)
                message = AIMessageChunk(
                    content="" if tool is not None else chunk.text,
                    tool_call_chunks=tool_call_chunks(chunk, tool),
                    usage_metadata=usage,
                    response_metadata=response_metadata,
                    chunk_position="last",
                )
            generation = ChatGenerationChunk(message=message)
            if run_manager and chunk.text:
                run_manager.on_llm_new_token(chunk.text, chunk=generation)
            yield generation

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        """Stream from a worker thread of its own; when the consumer stops early the
        generation is closed on that thread, after any token still being decoded,
        which releases the model for the next caller."""
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openmux-local")
        loop = asyncio.get_running_loop()
        chunks = await loop.run_in_executor(
            worker, lambda: self._stream(messages, stop, None, **kwargs)
        )
        try:
            while True:
                chunk = await loop.run_in_executor(worker, next, chunks, None)
                if chunk is None:
                    break
                if run_manager and chunk.text:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        finally:
            # Runs after any `next` still in flight on the same worker thread.
            closing = worker.submit(getattr(chunks, "close", lambda: None))
            worker.shutdown(wait=False)
            await asyncio.shield(asyncio.wrap_future(closing))

    def bind_tools(
        self,
        tools: Sequence[Mapping[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools: the model chooses between answering and calling one of them.

        `tool_choice` as OpenAI defines it: None or "auto" lets the model choose,
        "required" (or True, "any") makes it call one, a tool's name forces that
        tool, "none" answers without tools. A call's arguments always fit the
        tool's schema (see `openmux.local._tools`). A `tool_choice` naming no
        bound tool, or a tool that is not a function, is refused here.
        """
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        if tool_choice is True or tool_choice == "any":
            tool_choice = "required"
        tool_request(formatted, tool_choice, [], self._model_label())
        return super().bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: Literal["json_schema", "json_mode", "function_calling"] = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Answer with JSON matching `schema`; the parsed object, never a silent None.

        On llama.cpp a grammar makes every generated token fit the schema. On
        the numpy runtime the schema is asked for in the prompt and the reply
        checked against it, with one repair round; a reply that still does not
        fit raises the parser's error (or fills `parsing_error` with
        `include_raw=True`). `"json_mode"` asks for a JSON object, fitted to
        `schema` when one is given. `"function_calling"` is served the same way
        as `"json_schema"`: the caller gets the same parsed object. `strict`
        changes nothing: the output is always checked against the schema.
        """
        if kwargs:
            raise ValueError(f"unsupported arguments: {sorted(kwargs)}")
        is_pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
        parser: Runnable[Any, Any]
        if method == "json_mode" and schema is None:
            response_format: dict[str, Any] = {"type": "json_object"}
        elif method in ("json_mode", "json_schema", "function_calling"):
            # With a schema, json_mode constrains to it too: a model this small does
            # not follow a schema that is only described in the prompt.
            if schema is None:
                raise ValueError("with_structured_output(method='json_schema') needs a schema")
            json_schema = convert_to_json_schema(schema)
            if "properties" in json_schema and "required" not in json_schema:
                json_schema["required"] = list(json_schema["properties"])
            response_format = {"type": "json_schema", "schema": json_schema}
        else:
            raise ValueError(f"unknown method {method!r}: use 'json_schema' or 'json_mode'")
        if is_pydantic:
            parser = PydanticOutputParser(pydantic_object=cast(type[BaseModel], schema))
        else:
            parser = JsonOutputParser()
        llm = self.bind(
            response_format=response_format,
            ls_structured_output_format={"kwargs": {"method": method}, "schema": schema},
        )
        if include_raw:
            parser_assign = RunnablePassthrough.assign(
                parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
            )
            parser_none = RunnablePassthrough.assign(parsed=lambda _: None)
            with_fallback = parser_assign.with_fallbacks(
                [parser_none], exception_key="parsing_error"
            )
            return RunnableMap(raw=llm) | with_fallback
        return llm | parser
