"""OpenMuxEmbeddings: a drop-in Embeddings that never mixes vector spaces.

An instance resolves one embedding model on first use and keeps it for its
lifetime (`model_id`); it fails over only to another provider serving that
same model. Pin `model=` where vectors must match across machines.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from openmux.config import ProviderSettings, Settings, load_settings
from openmux.errors import NoProviderAvailable
from openmux.providers import LocalDiscovery, ModelPool, ProviderFailure, failure_from_exception
from openmux.routing import split_model_name

T = TypeVar("T")


class OpenMuxEmbeddings(BaseModel, Embeddings):
    """Embeddings from the first provider that serves an embedding model.

    Example:
        ```python
        from openmux import OpenMuxEmbeddings

        embeddings = OpenMuxEmbeddings()
        vectors = embeddings.embed_documents(["first text", "second text"])
        embeddings.model_id  # the model every vector of this instance comes from
        ```
    """

    model: str | None = None
    """Pin the model: `"ID"` (any provider serving it) or `"PROVIDER:ID"`."""
    provider: str | None = None
    providers: list[str] | None = None
    offline: bool | None = None
    api_keys: dict[str, SecretStr] | None = Field(default=None, repr=False, exclude=True)
    config: dict[str, Any] | None = None

    model_config = ConfigDict(arbitrary_types_allowed=True)

    _settings: Settings = PrivateAttr()
    _pool: ModelPool = PrivateAttr()
    _discovery: LocalDiscovery = PrivateAttr(default_factory=LocalDiscovery)
    _model_id: str | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def model_post_init(self, context: Any, /) -> None:
        overrides: dict[str, Any] = {key: dict(value) for key, value in (self.config or {}).items()}
        if self.providers is not None:
            overrides["router"] = {**overrides.get("router", {}), "providers": list(self.providers)}
        self._settings = load_settings(overrides, api_keys=self.api_keys, offline=self.offline)
        self._pool = ModelPool(self._settings.timeouts)
        if self.model:
            self._model_id = split_model_name(self.model, self._settings)[1]

    @property
    def model_id(self) -> str | None:
        """The embedding model of this instance (None until the first call, unless pinned)."""
        return self._model_id

    # -- candidates -----------------------------------------------------------------------

    def _candidates(self) -> tuple[list[tuple[ProviderSettings, str]], list[str]]:
        pinned_provider = self.provider
        if self.model:
            pinned_provider = split_model_name(self.model, self._settings)[0] or pinned_provider
        hints: list[str] = []
        pairs: list[tuple[ProviderSettings, str]] = []
        for provider in self._settings.provider_order():
            if pinned_provider and provider.name != pinned_provider:
                continue
            serves_embeddings = bool(provider.embedding_models) or provider.protocol == "ollama"
            if not provider.usable:
                if serves_embeddings:
                    hints.append(provider.hint())
                continue
            for model in self._models_of(provider):
                pairs.append((provider, model))
        if self._model_id is not None:
            same = [(p, m) for p, m in pairs if m == self._model_id]
            if not same and self.model:
                # A pinned id no list knows is still tried where embeddings are served.
                same = [(p, self._model_id) for p in dict.fromkeys(p for p, _ in pairs)]
            pairs = same
        return pairs, hints

    def _models_of(self, provider: ProviderSettings) -> list[str]:
        if provider.embedding_models or provider.protocol not in ("ollama",):
            return list(provider.embedding_models)
        # The router's cached probe, not a request to the server on every embedding call.
        found = self._discovery.models([provider])[provider.name] or []
        return [m for m in found if "embed" in m.lower()]

    def _fix(self, model: str) -> None:
        with self._lock:
            if self._model_id is None:
                self._model_id = model

    def _no_provider(self, attempts: list[dict[str, Any]], hints: list[str]) -> NoProviderAvailable:
        if self._model_id is not None:
            message = (
                f"no provider serving the embedding model {self._model_id!r} answered; "
                "this instance will not switch models, since vectors of another model "
                "live in another space"
            )
        else:
            message = "no embedding model is available"
            if not hints:
                hints = ["configure a provider with embedding_models = [...] in openmux.toml"]
        return NoProviderAvailable(message, attempts=attempts, hints=hints)

    @staticmethod
    def _attempt(
        provider: ProviderSettings, model: str, status: str, error: str | None, started: float
    ) -> dict[str, Any]:
        return {
            "provider": provider.name,
            "model": model,
            "status": status,
            "error": error,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "hedged": False,
        }

    def _run(self, call: Callable[[Embeddings], T]) -> T:
        pairs, hints = self._candidates()
        attempts: list[dict[str, Any]] = []
        for provider, model in pairs:
            started = time.perf_counter()
            try:
                result = call(self._pool.embeddings(provider, model))
            except Exception as exc:
                failure = failure_from_exception(exc)
                attempts.append(self._attempt(provider, model, failure.kind, str(failure), started))
                continue
            self._fix(model)
            return result
        raise self._no_provider(attempts, hints)

    async def _arun(self, call: Callable[[Embeddings], Awaitable[T]]) -> T:
        pairs, hints = self._candidates()
        attempts: list[dict[str, Any]] = []
        for provider, model in pairs:
            started = time.perf_counter()
            try:
                result = await call(self._pool.embeddings(provider, model, aio=True))
            except Exception as exc:
                failure = failure_from_exception(exc)
                attempts.append(self._attempt(provider, model, failure.kind, str(failure), started))
                continue
            self._fix(model)
            return result
        raise self._no_provider(attempts, hints)

    # -- Embeddings -----------------------------------------------------------------------

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return self._run(lambda model: _checked(model.embed_documents(texts), len(texts)))

    def embed_query(self, text: str) -> list[float]:
        return self._run(lambda model: _checked([model.embed_query(text)], 1))[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []

        async def call(model: Embeddings) -> list[list[float]]:
            return _checked(await model.aembed_documents(texts), len(texts))

        return await self._arun(call)

    async def aembed_query(self, text: str) -> list[float]:
        async def call(model: Embeddings) -> list[list[float]]:
            return _checked([await model.aembed_query(text)], 1)

        return (await self._arun(call))[0]


def _checked(vectors: list[list[float]], expected: int) -> list[list[float]]:
    if len(vectors) != expected or any(not v for v in vectors):
        raise ProviderFailure("bad_response", f"expected {expected} vectors, got {len(vectors)}")
    return vectors
