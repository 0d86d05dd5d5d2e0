"""The ASGI app: OpenAI's endpoints in front of ChatOpenMux and OpenMuxEmbeddings.

Nothing here routes: a request becomes one ChatOpenMux (or OpenMuxEmbeddings)
call with the per-call options those take (`task=`, `model=`, `fanout=`, tools,
response_format, sampling), and the route comes back from
`response_metadata["openmux"]` (chat: `_chat`).
"""

from __future__ import annotations

import base64
import gc
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson
from langchain_core.messages import HumanMessage
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from openmux import ChatOpenMux, OpenMuxEmbeddings, OpenMuxError, TaskType, __version__, _json
from openmux._logging import get_logger
from openmux.server._chat import SettlingResponse, chat_completions
from openmux.server._errors import (
    APIError,
    bad_request,
    from_openmux_error,
    not_served_here,
    unknown_model,
)
from openmux.server._metrics import Metrics
from openmux.server._security import check_caller, server_keys
from openmux.server._wire import (
    check_dimensions,
    embedding_dimensions,
    embedding_texts,
    openmux_options,
)

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from openmux.routing import Candidate

DEFAULT_MAX_REQUEST_BYTES = 10 * 1024 * 1024
CHAT_PATH = "/v1/chat/completions"
VIRTUAL_PREFIX = "openmux/"
AUTO = "auto"
FANOUT = "fanout"
DEFAULT_FANOUT = 2
_MODELS_TTL_S = 30.0
_EMBEDDING_INSTANCES = 64

_log = get_logger("openmux.server")

Handler = Callable[[Request], Awaitable[Response]]


class OpenMuxServer:
    """What outlives a request: the chat model, embedding models, keys and metrics."""

    def __init__(
        self,
        *,
        config: Mapping[str, Any] | None = None,
        classifier: Any = None,
        keys: tuple[bytes, ...] | None = None,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        cors_origins: tuple[str, ...] = (),
    ) -> None:
        self.config = dict(config) if config is not None else None
        self.chat = ChatOpenMux(config=self.config, classifier=classifier)
        self.keys = server_keys() if keys is None else keys
        self.cors_origins = frozenset(cors_origins)
        self.max_request_bytes = max_request_bytes
        self.metrics = Metrics(self.quota_headroom)
        self.total_timeout_s = self.chat.settings.timeouts.total
        self._embeddings: OrderedDict[str, OpenMuxEmbeddings] = OrderedDict()
        self._vector_sizes: dict[str, int] = {}  # by model name, as `_embeddings`
        self._models: tuple[float, list[dict[str, Any]]] | None = None

    async def warm_up(self, *, freeze_heap: bool = False) -> None:
        """Pay at start what the first requests would (about 2 s on a small machine: the
        classifier's weights, the catalog, quotas, the chat call path and the packages
        embeddings and fan-out members are built from, hundreds of modules; and the model
        list, made in a thread of anyio's pool, whose first use imports anyio's asyncio
        backend: about 30 ms), calling nothing. `freeze_heap`, for a process that is the
        server's own: then move what is loaded into the collector's permanent generation
        (`gc.freeze`), which its full collections, tens of ms each on a heap this size, no
        longer walk."""
        from openmux.routing import plan

        text = "Write a Python function that reverses a string"
        messages: list[BaseMessage] = [HumanMessage(text)]
        router = self.chat.router
        try:
            router.first_tier(messages)
            # With its task given, planning asks no model for a second opinion.
            plan(router, self.chat.route_request(messages, task="chat"))
            router.pool.preload(router.settings.provider_order())
            await self.models()
        except Exception as exc:  # a request meets the same problem, and reports it
            _log.debug("warm-up stopped early: %s", exc)
        if freeze_heap:
            gc.collect()
            gc.freeze()

    # -- plumbing ---------------------------------------------------------------------------

    def endpoint(self, name: str, handler: Handler, *, open: bool = False) -> Handler:
        """Key check, OpenAI-shaped errors and request metrics around a handler."""

        async def guarded(request: Request) -> Response:
            started = time.perf_counter()
            try:
                if not open:
                    check_caller(request.headers, self.keys, self.cors_origins)
                response = await handler(request)
            except APIError as error:
                response = error_response(error)
            except Exception:
                _log.exception("%s failed", name)
                response = error_response(
                    APIError(500, "internal server error (see the server log)", type="server_error")
                )
            seconds = time.perf_counter() - started
            if isinstance(response, SettlingResponse):
                # Counted with the answer's other bookkeeping, once it is sent.
                response.route.settle(self.metrics.request, name, response.status_code, seconds)
            else:
                self.metrics.request(name, response.status_code, seconds)
            return response

        return guarded

    def limited(self, request: Request) -> Request:
        """The request, refused with a 413 when it declares, or once its body reaches,
        more than the limit (a chunked upload declares no length). `read_json` counts in
        its own loop instead: a wrapped `receive` costs the hot path a call a message."""
        self._check_declared(request)
        received = 0

        async def receive() -> Message:
            nonlocal received
            message = await request.receive()
            received += len(message.get("body", b""))
            if received > self.max_request_bytes:
                raise self._too_large()
            return message

        return Request(request.scope, receive)

    def _check_declared(self, request: Request) -> None:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_request_bytes:
            raise self._too_large()
        # Bodies are read as sent: a compressed one would fail as "not JSON" or as a
        # broken upload, never saying why (and inflating it would escape the size limit).
        encoding = request.headers.get("content-encoding", "").strip()
        if encoding and encoding.lower() != "identity":
            raise APIError(
                415,
                f"Content-Encoding {encoding} is not supported: send the body uncompressed",
                code="unsupported_content_encoding",
            )

    async def read_json(self, request: Request) -> dict[str, Any]:
        self._check_declared(request)
        body = bytearray()
        # ASGI messages read directly: Request.stream's generator costs more than the read.
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            body += message.get("body", b"")
            if len(body) > self.max_request_bytes:
                raise self._too_large()
            if not message.get("more_body", False):
                break
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise bad_request(f"the request body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise bad_request("the request body must be a JSON object")
        return data

    def _too_large(self) -> APIError:
        return APIError(
            413,
            f"request body larger than {self.max_request_bytes} bytes "
            "(openmux serve --max-request-mb raises the limit)",
            code="request_too_large",
        )

    def route_options(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """ChatOpenMux's per-call routing options for the requested model name."""
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise bad_request("'model' is required: openmux/auto routes each request", "model")
        options = openmux_options(body)
        if not name.startswith(VIRTUAL_PREFIX):
            return {**options, "model": name}
        virtual = name[len(VIRTUAL_PREFIX) :]
        if virtual == AUTO:
            return options
        if virtual == FANOUT:
            return {"fanout": DEFAULT_FANOUT, **options}
        if virtual == "embeddings":  # a chat answer cannot carry vectors
            raise not_served_here(name, virtual)
        if virtual in _TASKS:
            return {**options, "task": virtual}
        raise unknown_model(name)

    def failure(self, exc: OpenMuxError, started: float) -> APIError:
        attempts = getattr(exc, "attempts", None)
        if attempts:
            self.metrics.record_attempts(attempts)
        return from_openmux_error(
            exc,
            elapsed_s=time.perf_counter() - started,
            total_timeout_s=self.total_timeout_s,
        )

    @staticmethod
    def check_model_for(name: str, task: str) -> None:
        """404 for a virtual model an endpoint of one task cannot serve: it takes
        openmux/auto, its own task's name (openmux/image) and any pin."""
        virtual = name[len(VIRTUAL_PREFIX) :] if name.startswith(VIRTUAL_PREFIX) else AUTO
        if virtual not in (AUTO, task):
            raise not_served_here(name, virtual) if virtual in _TASKS else unknown_model(name)

    # -- embeddings -------------------------------------------------------------------------

    def embeddings_for(self, name: str) -> OpenMuxEmbeddings:
        """One instance per model name: each keeps one vector space for its lifetime."""
        self.check_model_for(name, "embeddings")
        instance = self._embeddings.get(name)
        if instance is None:
            pinned = None if name.startswith(VIRTUAL_PREFIX) else name
            instance = OpenMuxEmbeddings(model=pinned, config=self.config)
            self._embeddings[name] = instance
            if len(self._embeddings) > _EMBEDDING_INSTANCES:
                dropped, _ = self._embeddings.popitem(last=False)
                self._vector_sizes.pop(dropped, None)
        return instance

    async def create_embeddings(self, request: Request) -> Response:
        started = time.perf_counter()
        body = await self.read_json(request)
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise bad_request("'model' is required: openmux/auto picks one", "model")
        texts = embedding_texts(body.get("input"))
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise bad_request("'encoding_format' must be float or base64", "encoding_format")
        dimensions = embedding_dimensions(body)
        embeddings = self.embeddings_for(name)
        made = self._vector_sizes.get(name)
        if made is not None:  # an instance keeps one vector space: known before asking
            check_dimensions(dimensions, made, embeddings.model_id or name)
        try:
            vectors = await embeddings.aembed_documents(texts)
        except OpenMuxError as exc:
            raise self.failure(exc, started) from exc
        self._vector_sizes[name] = len(vectors[0])
        check_dimensions(dimensions, len(vectors[0]), embeddings.model_id or name)
        data = [
            {"object": "embedding", "index": i, "embedding": _encoded(vector, encoding)}
            for i, vector in enumerate(vectors)
        ]
        payload = {
            "object": "list",
            "data": data,
            "model": embeddings.model_id,
            # LangChain's Embeddings interface reports no token counts.
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
        }
        return json_response(payload)

    # -- listings ---------------------------------------------------------------------------

    async def list_models(self, request: Request) -> Response:
        return json_response({"object": "list", "data": await self.models()})

    async def retrieve_model(self, request: Request) -> Response:
        name = request.path_params["model"]
        for entry in await self.models():
            if entry["id"] == name:
                return json_response(entry)
        raise unknown_model(name)

    async def models(self) -> list[dict[str, Any]]:
        cached = self._models
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        import anyio

        names = await anyio.to_thread.run_sync(self._routable_models)
        virtual = [f"{VIRTUAL_PREFIX}{AUTO}", f"{VIRTUAL_PREFIX}{FANOUT}"]
        virtual += [f"{VIRTUAL_PREFIX}{task}" for task in _TASKS]
        listing = [_model_entry(name, "openmux") for name in virtual]
        listing += [_model_entry(name, name.partition(":")[0]) for name in names]
        self._models = (time.monotonic() + _MODELS_TTL_S, listing)
        return listing

    def _routable(self) -> list[Candidate]:
        """Every candidate the router would try for a chat request now, then for an
        embeddings request (the one select of every surface)."""
        from openmux.routing import RouteRequest, select

        router = self.chat.router
        chat = select(router, RouteRequest(messages=[HumanMessage("")], task="chat"))
        return chat + select(router, RouteRequest(messages=[], output="embeddings"))

    def _routable_models(self) -> list[str]:
        return list(dict.fromkeys(f"{c.provider.name}:{c.model.id}" for c in self._routable()))

    def quota_headroom(self) -> list[tuple[str, str, str, int]]:
        """What is left of each routable model's free-tier limits (one row per counter)."""
        quotas = self.chat.router.quotas
        rows: dict[tuple[str, str], dict[str, int]] = {}
        for candidate in self._routable():
            scope, left = quotas.headroom(candidate.provider, candidate.model.id)
            provider, _, model = scope.partition("|")
            rows[(provider, model)] = left
        return [(p, m, limit, n) for (p, m), left in rows.items() for limit, n in left.items()]

    async def health(self, request: Request) -> Response:
        return json_response({"status": "ok", "version": __version__})

    async def metrics_endpoint(self, request: Request) -> Response:
        import anyio

        # The headroom is read from the quota counters: off the event loop.
        text = await anyio.to_thread.run_sync(self.metrics.exposition)
        return Response(text, media_type=self.metrics.content_type)


_TASKS = tuple(task.value for task in TaskType)


def _model_entry(name: str, owner: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": owner}


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return vector
    import numpy as np

    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()


def json_response(
    payload: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        _json.dumps(payload),
        status_code=status,
        headers=dict(headers or {}),
        media_type="application/json",
    )


def error_response(error: APIError) -> Response:
    return json_response(error.body(), status=error.status, headers=error.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods, in OpenAI's error shape too."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = f"{request.method} {request.url.path}: {getattr(exc, 'detail', 'error')}"
    return error_response(APIError(status, message, code="not_found" if status == 404 else None))


def media_routes(server: OpenMuxServer) -> list[Route]:
    """`/v1/images/generations`, `/v1/audio/speech`, `/v1/audio/transcriptions`."""
    from openmux.server import _media

    handlers = {
        "/v1/images/generations": _media.images_generations,
        "/v1/audio/speech": _media.audio_speech,
        "/v1/audio/transcriptions": _media.audio_transcriptions,
    }
    return [
        Route(path, server.endpoint(path, partial(handler, server)), methods=["POST"])
        for path, handler in handlers.items()
    ]


class OpenMuxApp(Starlette):
    """The Starlette app, with `POST /v1/chat/completions` handed straight to its endpoint
    while no middleware is added (CORS, say): the endpoint makes every error response
    itself, so Starlette's error middleware and router would only add their cost."""

    def __init__(self, *, chat: Handler, **options: Any) -> None:
        super().__init__(**options)
        self.chat = chat

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == CHAT_PATH
            and scope["method"] == "POST"
            and not scope.get("root_path")
            and not self.user_middleware
        ):
            scope["app"] = self
            response = await self.chat(Request(scope, receive))
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    *,
    config: Mapping[str, Any] | None = None,
    classifier: Any = None,
    keys: tuple[bytes, ...] | None = None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    cors_origins: tuple[str, ...] = (),
    freeze_heap: bool = False,
) -> OpenMuxApp:
    """The server app. `config` takes openmux.toml's shape (default: the usual config
    file and environment); `keys` the server keys (default: `OPENMUX_SERVER_KEYS`).
    It warms up as it starts (`OpenMuxServer.warm_up`); `freeze_heap` for a process
    that runs nothing else."""
    server = OpenMuxServer(
        config=config,
        classifier=classifier,
        keys=keys,
        max_request_bytes=max_request_bytes,
        cors_origins=cors_origins,
    )
    endpoint = server.endpoint
    chat = endpoint(CHAT_PATH, partial(chat_completions, server))
    routes = [
        Route(CHAT_PATH, chat, methods=["POST"]),
        Route(
            "/v1/embeddings",
            endpoint("/v1/embeddings", server.create_embeddings),
            methods=["POST"],
        ),
        Route("/v1/models", endpoint("/v1/models", server.list_models), methods=["GET"]),
        Route(
            "/v1/models/{model:path}",
            endpoint("/v1/models/{model}", server.retrieve_model),
            methods=["GET"],
        ),
        *media_routes(server),
        Route("/health", endpoint("/health", server.health, open=True), methods=["GET"]),
        Route("/metrics", endpoint("/metrics", server.metrics_endpoint), methods=["GET"]),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await server.warm_up(freeze_heap=freeze_heap)
        yield

    app = OpenMuxApp(
        chat=chat,
        routes=routes,
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    if cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type"],
            expose_headers=["x-openmux-provider", "x-openmux-model", "x-openmux-task"],
        )
    app.state.openmux = server
    return app
