"""OpenMuxEmbeddings: a drop-in Embeddings that never mixes vector spaces.

An instance uses one embedding model for its lifetime (`model_id`): the pinned
one, else the one its configuration names (the first free embedding model of the
first provider with a key, in provider order; never a choice by health). It fails
over only to another provider serving that same model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from langchain_core.embeddings import Embeddings
from langchain_core.messages import HumanMessage
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, model_validator

from openmux._built import BuiltFromFields
from openmux._text import refuse_lone_surrogate
from openmux.config import (
    SETTING_ARGUMENTS,
    Settings,
    argument_overrides,
    check_arguments,
    load_settings,
)
from openmux.errors import NoProviderAvailable
from openmux.privacy import audit_request
from openmux.providers import ProviderFailure
from openmux.routing import (
    Candidate,
    Router,
    RouteRequest,
    aembed_candidate,
    configured_embedding_model,
    embed_candidate,
    select,
    split_model_name,
)

T = TypeVar("T")

# Hedging races chat answers; an embedding request has no first token to wait for.
_EMBEDDING_SETTINGS = tuple(
    a for a in SETTING_ARGUMENTS if a not in ("hedge_after_ms", "hedge_tools")
)


class OpenMuxEmbeddings(BaseModel, Embeddings):
    """Embeddings from the first provider that serves an embedding model.

    Example:
        ```python
        from openmux import OpenMuxEmbeddings

        embeddings = OpenMuxEmbeddings()
        vectors = embeddings.embed_documents(["first text", "second text"])
        embeddings.model_id  # the model every vector of this instance comes from

        # Pin a model (and, with "PROVIDER:", a provider) to choose another one:
        OpenMuxEmbeddings(model="mistral:mistral-embed")
        ```

    Selection, the free rule, health and benching, PII scrubbing, the audit log and
    the offline check are those of every request (`openmux.routing.select`).
    """

    model: str | None = None
    """Pin the model: `"ID"` (any provider serving it) or `"PROVIDER:ID"`."""
    provider: str | None = None
    providers: list[str] | None = None
    """Allowed providers, in tie-break order (the config's `[router] providers`)."""
    strategy: Literal["best", "ordered"] | None = None
    free_only: bool | None = None
    max_attempts: int | None = None
    policy: Literal["quality", "latency", "balanced"] | None = None
    prefer: list[str] | None = None
    exclude: list[str] | None = None
    offline: bool | None = None
    timeout: float | None = None
    """Total seconds per provider call (`[timeouts] total`)."""
    connect_timeout: float | None = None
    first_token_timeout: float | None = None
    api_keys: dict[str, SecretStr] | None = Field(default=None, repr=False, exclude=True)
    config: dict[str, Any] | None = None

    model_config = ConfigDict(arbitrary_types_allowed=True)

    _built: BuiltFromFields = PrivateAttr(default_factory=BuiltFromFields)
    # Copied and pickled with the instance: a copy embeds in the same vector space.
    _model_id: str | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _known_arguments(cls, values: Any) -> Any:
        if isinstance(values, Mapping):
            check_arguments(cls.__name__, values, cls.model_fields)
        return values

    def model_post_init(self, context: Any, /) -> None:
        # Validate configuration now, so mistakes surface at construction.
        _ = self.settings

    def _own_built(self) -> BuiltFromFields:
        built = self._built
        if built.owner is not self.__dict__:  # a copy: build from its own fields
            if built.owner is not None and built.owner != self.__dict__:
                self._model_id = None  # model_copy(update=...): choose the model again
            built = self._built = BuiltFromFields(self.__dict__)
        return built

    @property
    def settings(self) -> Settings:
        built = self._own_built()
        if built.settings is None:
            arguments = {name: getattr(self, name) for name in _EMBEDDING_SETTINGS}
            overrides = argument_overrides(self.config, arguments)
            built.settings = load_settings(overrides, api_keys=self.api_keys, offline=self.offline)
            if self.model:
                self._model_id = split_model_name(self.model, built.settings)[1]
        return built.settings

    @property
    def model_id(self) -> str | None:
        """The embedding model of this instance, known before the first call.

        None when the configuration serves no embedding model (a call then explains why)."""
        settings = self.settings  # a copy with other fields chooses again
        if self._model_id is None:
            chosen = configured_embedding_model(settings, self.router.local_models(), self.provider)
            with self._own_built().lock:
                self._model_id = self._model_id or chosen
        return self._model_id

    @property
    def model_name(self) -> str | None:
        """`model_id`, under the name LlamaIndex's `LangchainEmbedding` reads."""
        return self.model_id

    @property
    def router(self) -> Router:
        built = self._own_built()
        if built.router is None:
            settings = self.settings
            with built.lock:
                if built.router is None:
                    built.router = Router(settings)
        return built.router

    # -- one request ----------------------------------------------------------------------

    def _request(self, texts: list[str]) -> tuple[RouteRequest, list[Candidate]]:
        request = RouteRequest(
            messages=[HumanMessage(content=text) for text in texts],
            task="embeddings",
            model=self.model,
            provider=self.provider,
            output="embeddings",
        )
        candidates = select(self.router, request)
        if self._model_id is not None:
            candidates = [c for c in candidates if c.model.id == self._model_id]
        return request, candidates

    def _fix(self, request: RouteRequest) -> None:
        winner = request.winner
        if winner is not None:
            with self._own_built().lock:
                if self._model_id is None:
                    self._model_id = winner.model.id

    def _no_provider(self, request: RouteRequest) -> NoProviderAvailable:
        hints = list(dict.fromkeys(request.hints))
        if self.model_id is not None:
            if request.out_of_budget and request.attempts:
                outcome = (
                    f"answered within the request's budget ({request.sent} attempts sent, "
                    f"max {request.max_attempts})"
                )
            elif request.attempts:
                outcome = "answered"
            elif request.offline:
                outcome = "is reachable (offline: only local providers take part)"
            else:
                outcome = "is reachable"
            message = (
                f"no provider serving the embedding model {self.model_id!r} {outcome}; "
                "this instance will not switch models, since vectors of another model "
                "live in another space"
            )
            hints.append('to use another model, pin it: OpenMuxEmbeddings(model="PROVIDER:ID")')
        else:
            message = "no embedding model is available"
            if not hints:
                hints = ["configure a provider with embedding_models = [...] in openmux.toml"]
        return NoProviderAvailable(message, attempts=request.attempt_dicts(), hints=hints)

    def _audit(self, request: RouteRequest) -> None:
        privacy = self.settings.privacy
        if privacy.audit_log is not None:
            audit_request(privacy, _metadata(request), None, request.messages)

    def _run(
        self, texts: list[str], call: Callable[[Embeddings, list[str]], T]
    ) -> tuple[T, RouteRequest]:
        request, candidates = self._request(texts)
        try:
            for candidate in candidates:
                if request.out_of_budget:
                    break
                try:
                    result = embed_candidate(self.router, candidate, request, texts, call)
                except ProviderFailure:
                    continue
                self._fix(request)
                return result, request
            raise self._no_provider(request)
        finally:
            self._audit(request)

    async def _arun(
        self, texts: list[str], call: Callable[[Embeddings, list[str]], Awaitable[T]]
    ) -> tuple[T, RouteRequest]:
        request, candidates = self._request(texts)
        try:
            for candidate in candidates:
                if request.out_of_budget:
                    break
                try:
                    result = await aembed_candidate(self.router, candidate, request, texts, call)
                except ProviderFailure:
                    continue
                self._fix(request)
                return result, request
            raise self._no_provider(request)
        finally:
            self._audit(request)

    # -- Embeddings -----------------------------------------------------------------------

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents_routed(texts)[0]

    def embed_documents_routed(self, texts: list[str]) -> tuple[list[list[float]], dict[str, Any]]:
        """`embed_documents`, and how the call was routed: `response_metadata["openmux"]`'s
        provider, model, attempts and latency_ms (the provider is None for no texts)."""
        _check_texts(texts)
        if not texts:
            return [], _metadata(RouteRequest(messages=[]))
        vectors, request = self._run(
            texts, lambda model, sent: _checked(model.embed_documents(sent), len(sent))
        )
        return vectors, _metadata(request)

    def embed_query(self, text: str) -> list[float]:
        _check_text(text)
        call = lambda model, sent: _checked([model.embed_query(sent[0])], 1)  # noqa: E731
        return self._run([text], call)[0][0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return (await self.aembed_documents_routed(texts))[0]

    async def aembed_documents_routed(
        self, texts: list[str]
    ) -> tuple[list[list[float]], dict[str, Any]]:
        """`embed_documents_routed`, asynchronously."""
        _check_texts(texts)
        if not texts:
            return [], _metadata(RouteRequest(messages=[]))

        async def call(model: Embeddings, sent: list[str]) -> list[list[float]]:
            return _checked(await model.aembed_documents(sent), len(sent))

        vectors, request = await self._arun(texts, call)
        return vectors, _metadata(request)

    async def aembed_query(self, text: str) -> list[float]:
        _check_text(text)

        async def call(model: Embeddings, sent: list[str]) -> list[list[float]]:
            return _checked([await model.aembed_query(sent[0])], 1)

        return (await self._arun([text], call))[0][0]


def _check_texts(texts: Any) -> None:
    # A caller's mistake, raised before anything is sent: a str would go out as one text
    # while len() counts its characters, and the answer would count against the provider.
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        raise TypeError(
            f"embed_documents takes a list of strings, not a {type(texts).__name__} "
            "(for one text, use embed_query)"
        )
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"embed_documents takes a list of strings; texts[{index}] is of type "
                f"{type(text).__name__}"
            )
        refuse_lone_surrogate(text, f"texts[{index}]")


def _check_text(text: Any) -> None:
    if not isinstance(text, str):
        raise TypeError(f"embed_query takes a string, not a {type(text).__name__}")
    refuse_lone_surrogate(text, "the text")


def _metadata(request: RouteRequest) -> dict[str, Any]:
    return {**request.metadata(), "task": "embeddings"}


def _checked(vectors: list[list[float]], expected: int) -> list[list[float]]:
    if len(vectors) != expected or any(not v for v in vectors):
        raise ProviderFailure("bad_response", f"expected {expected} vectors, got {len(vectors)}")
    return vectors
