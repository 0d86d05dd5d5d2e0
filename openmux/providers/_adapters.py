"""Adapters: a LangChain model for one (provider, model), built from the provider's protocol.

One factory per protocol, chosen from a table; models are cached per
(provider, model, event loop) so a request never pays for client construction
twice, and dropped with their event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import SecretStr

from openmux.errors import ConfigError
from openmux.providers import _http

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage

    from openmux.config import MediaKind, ProviderSettings, Timeouts
    from openmux.providers._wire import OpenAIEndpoint

_NO_KEY = SecretStr("not-needed")


@runtime_checkable
class QuietAnswers(Protocol):
    """A chat model that can answer without LangChain's run bookkeeping (the router uses
    it when nobody observes the request, and traces its own attempts otherwise)."""

    def respond(self, messages: list[BaseMessage], **kwargs: Any) -> AIMessage: ...

    async def arespond(self, messages: list[BaseMessage], **kwargs: Any) -> AIMessage: ...


def _openai_chat(
    provider: ProviderSettings,
    model: str,
    timeouts: Timeouts,
    loop: asyncio.AbstractEventLoop | None,
) -> BaseChatModel:
    from openmux.providers._openai_compatible import CompatibleChatOpenAI

    return CompatibleChatOpenAI(
        model=model,
        base_url=provider.base_url,
        api_key=provider.api_key or _NO_KEY,
        max_retries=0,  # the router owns retries
        timeout=_http.timeout(timeouts.connect, timeouts.first_token, timeouts.total),
        default_headers=dict(provider.headers) or None,
        stream_usage=True,
        http_client=_http.sync_client(),
        http_async_client=_http.async_client(loop),
        cache=False,  # the router's caller caches the answer, once
    )


def _ollama_client_kwargs(provider: ProviderSettings, timeouts: Timeouts) -> dict[str, Any]:
    import httpx  # the ollama client is built on classic httpx

    kwargs: dict[str, Any] = {
        "timeout": _http.timeout(
            timeouts.connect, timeouts.first_token, timeouts.total, httpx=httpx
        ),
        "verify": _http.ssl_context(),
    }
    if provider.api_key is not None:
        kwargs["headers"] = {"Authorization": f"Bearer {provider.api_key.get_secret_value()}"}
    return kwargs


def _ollama_async_client_kwargs(loop: asyncio.AbstractEventLoop | None) -> dict[str, Any]:
    """The async client ollama builds goes through the loop's pool, and so under its
    deadlines and size cap (its own httpx pool has neither: a body that never ends was
    read for ever). A sync caller's model never uses its async client."""
    if loop is None:
        return {}
    import httpx

    # Proxies from the environment are the pool's (see `_aio`): httpx's would bypass it.
    return {"transport": _http.async_transport(loop, httpx), "trust_env": False}


def _ollama_chat(
    provider: ProviderSettings,
    model: str,
    timeouts: Timeouts,
    loop: asyncio.AbstractEventLoop | None,
) -> BaseChatModel:
    from openmux.providers._ollama_chat import InlineImagesOllama

    return InlineImagesOllama(
        model=model,
        base_url=provider.base_url,
        client_kwargs=_ollama_client_kwargs(provider, timeouts),
        # Both sides share the pools, their first-token deadline and size cap.
        sync_client_kwargs={"transport": _http.sync_transport()},
        async_client_kwargs=_ollama_async_client_kwargs(loop),
        cache=False,
    )


def _local_chat(
    provider: ProviderSettings,
    model: str,
    timeouts: Timeouts,
    loop: asyncio.AbstractEventLoop | None,
) -> BaseChatModel:
    from openmux.local import BUNDLED_CHAT_MODEL_ID, ChatLocalGGUF, model_path

    if model == BUNDLED_CHAT_MODEL_ID:
        return ChatLocalGGUF(timeout=timeouts.total, cache=False)
    return ChatLocalGGUF(
        model_path=model_path(model), model=model, timeout=timeouts.total, cache=False
    )


def _transformers_chat(
    provider: ProviderSettings,
    model: str,
    timeouts: Timeouts,
    loop: asyncio.AbstractEventLoop | None,
) -> BaseChatModel:
    """A Hugging Face model the user already has (a local folder or the hub cache), in
    process. Never downloads: a model that is not on disk is an error naming the fix."""
    try:
        from langchain_huggingface import ChatHuggingFace, HuggingFacePipeline
    except ImportError as exc:
        raise ConfigError(
            f"provider {provider.name!r} uses protocol transformers: extra packages needed",
            fix='pip install "openmux[transformers]" (and torch)',
        ) from exc
    try:
        pipeline = HuggingFacePipeline.from_model_id(
            model_id=model,
            task="text-generation",
            model_kwargs={"local_files_only": True},
            pipeline_kwargs={"max_new_tokens": 512, "return_full_text": False},
        )
    except OSError as exc:
        raise ConfigError(
            f"the transformers model {model!r} is not on this machine",
            fix="give the path of a saved model folder (OpenMux downloads nothing unasked)",
        ) from exc
    return ChatHuggingFace(llm=pipeline, model_id=model, cache=False)


def _openai_embeddings(
    provider: ProviderSettings,
    model: str,
    timeouts: Timeouts,
    loop: asyncio.AbstractEventLoop | None,
) -> Embeddings:
    from langchain_openai import OpenAIEmbeddings

    return OpenAIEmbeddings(
        model=model,
        base_url=provider.base_url,
        api_key=provider.api_key or _NO_KEY,
        max_retries=0,
        timeout=_http.timeout(timeouts.connect, timeouts.first_token, timeouts.total),
        default_headers=dict(provider.headers) or None,
        # Token counting would download a tokenizer; the provider truncates instead.
        check_embedding_ctx_length=False,
        http_client=_http.sync_client(),
        http_async_client=_http.async_client(loop),
    )


def _ollama_embeddings(
    provider: ProviderSettings,
    model: str,
    timeouts: Timeouts,
    loop: asyncio.AbstractEventLoop | None,
) -> Embeddings:
    from langchain_ollama import OllamaEmbeddings

    return OllamaEmbeddings(
        model=model,
        base_url=provider.base_url,
        client_kwargs=_ollama_client_kwargs(provider, timeouts),
        # Both sides share the pools, their first-token deadline and size cap.
        sync_client_kwargs={"transport": _http.sync_transport()},
        async_client_kwargs=_ollama_async_client_kwargs(loop),
    )


def _local_embeddings(
    provider: ProviderSettings,
    model: str,
    timeouts: Timeouts,
    loop: asyncio.AbstractEventLoop | None,
) -> Embeddings:
    from openmux.local import LocalEmbeddings

    return LocalEmbeddings()


def _openai_endpoint(
    provider: ProviderSettings,
    model: str,
    timeouts: Timeouts,
    loop: asyncio.AbstractEventLoop | None,
) -> Any:
    from openmux.providers._wire import OpenAIEndpoint

    return OpenAIEndpoint(provider, model, timeouts, loop)


ChatFactory = Callable[
    ["ProviderSettings", str, "Timeouts", "asyncio.AbstractEventLoop | None"], "BaseChatModel"
]
EmbeddingsFactory = Callable[
    ["ProviderSettings", str, "Timeouts", "asyncio.AbstractEventLoop | None"], "Embeddings"
]

CHAT_FACTORIES: dict[str, ChatFactory] = {
    "openai": _openai_chat,
    "ollama": _ollama_chat,
    "llamacpp": _local_chat,
    "transformers": _transformers_chat,
}
# Protocols that take an OpenAI chat-completions body as it came (see `_wire`).
OPENAI_BODY_FACTORIES: dict[str, Callable[..., Any]] = {"openai": _openai_endpoint}
EMBEDDINGS_FACTORIES: dict[str, EmbeddingsFactory] = {
    "openai": _openai_embeddings,
    "ollama": _ollama_embeddings,
    "llamacpp": _local_embeddings,
}


class ModelPool:
    """Built models, reused across requests; async ones per event loop. Thread-safe.

    At most MAX_MODELS per loop (and for sync callers), least recently used out
    first: every distinct `model=` string must not cost memory forever. Async
    models live in their loop's scope and are dropped when that loop closes.
    """

    MAX_MODELS = 64

    def __init__(self, timeouts: Timeouts) -> None:
        self._timeouts = timeouts
        self._sync: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def _cache(self, aio: bool) -> tuple[dict[Any, Any], asyncio.AbstractEventLoop | None]:
        loop = _http.current_loop() if aio else None
        if loop is None:
            return self._sync, None
        return _http.loop_cache(loop, self), loop

    def _get(
        self, table: dict[str, Any], what: str, provider: ProviderSettings, model: str, aio: bool
    ) -> Any:
        cache, loop = self._cache(aio)
        key = (what, provider.name, model)
        with self._lock:
            found = cache.pop(key, None)
            if found is not None:
                cache[key] = found  # most recently used last
                return found
        built = _factory(table, provider, what)(provider, model, self._timeouts, loop)
        with self._lock:
            found = cache.setdefault(key, built)
            while len(cache) > self.MAX_MODELS:
                del cache[next(iter(cache))]
        return found

    # Protocols whose models a server builds once as it starts: local runtimes would load
    # their weights, which wait for a request that needs them.
    _PRELOADED = ("openai", "ollama")

    def preload(self, providers: Iterable[ProviderSettings]) -> None:
        """Build and drop one chat and one embeddings model per protocol, calling nothing,
        and load the lean OpenAI wire path: a server pays at start what its first requests
        would (langchain_openai and the SDK parts it loads lazily cost a first embeddings
        request or fan-out member 0.2-0.6 s). Errors wait for a request, which reports them."""
        protocols = {p.protocol: p for p in providers if p.protocol in self._PRELOADED}
        if "openai" in protocols:
            _http.preload_call_path()
        for protocol, provider in protocols.items():
            for build in (CHAT_FACTORIES[protocol], EMBEDDINGS_FACTORIES[protocol]):
                with contextlib.suppress(Exception):
                    build(provider, "warm-up", self._timeouts, None)

    def chat(self, provider: ProviderSettings, model: str, *, aio: bool = False) -> BaseChatModel:
        return self._get(CHAT_FACTORIES, "chat", provider, model, aio)

    def openai_endpoint(self, provider: ProviderSettings) -> OpenAIEndpoint | None:
        """The provider's endpoint for OpenAI chat bodies sent as they came, on the running
        event loop; None when the provider speaks another protocol."""
        if provider.protocol not in OPENAI_BODY_FACTORIES:
            return None
        endpoint: OpenAIEndpoint = self._get(
            OPENAI_BODY_FACTORIES, "openai-body", provider, "", aio=True
        )
        return endpoint

    def embeddings(
        self, provider: ProviderSettings, model: str, *, aio: bool = False
    ) -> Embeddings:
        return self._get(EMBEDDINGS_FACTORIES, "embeddings", provider, model, aio)

    def media(
        self, provider: ProviderSettings, model: str, kind: MediaKind, *, aio: bool = False
    ) -> BaseChatModel:
        """A model making `kind` (image, speech, transcription); see `_media`."""
        from openmux.providers._media import media_chat_model

        def build(provider: ProviderSettings, model: str, timeouts: Timeouts, loop: Any) -> Any:
            return media_chat_model(provider, model, kind, timeouts)

        table = {provider.protocol: build}
        return self._get(table, f"media:{kind}", provider, model, aio)


def _factory(table: dict[str, Any], provider: ProviderSettings, what: str) -> Any:
    factory = table.get(provider.protocol)
    if factory is None:
        raise ConfigError(
            f"provider {provider.name!r} uses protocol {provider.protocol!r}, "
            f"which has no {what} adapter",
            fix=f"use one of: {', '.join(table)}",
        )
    return factory
