"""Routing a request to the endpoint that answers it, after the provider's fault."""

from __future__ import annotations

import contextlib
import json
import secrets
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from openmux.testing._connection import ClientGone
from openmux.testing._faults import Fault
from openmux.testing._ollama_endpoints import OllamaEndpoints
from openmux.testing._openai_endpoints import OpenAIEndpoints
from openmux.testing._provider import RecordedRequest

_Route = tuple[str, str, str, bool]  # (protocol, endpoint, handler name, is work endpoint)

_ROUTES: dict[tuple[str, str], _Route] = {
    ("POST", "/v1/chat/completions"): ("openai", "chat", "_openai_chat", True),
    ("GET", "/v1/models"): ("openai", "models", "_openai_models", False),
    ("POST", "/v1/embeddings"): ("openai", "embeddings", "_openai_embeddings", True),
    ("POST", "/api/v1/chat/completions"): ("openrouter", "chat", "_openai_chat", True),
    ("GET", "/api/v1/models"): ("openrouter", "models", "_openrouter_models", False),
    ("POST", "/api/v1/embeddings"): ("openrouter", "embeddings", "_openai_embeddings", True),
    ("GET", "/api/v1/key"): ("openrouter", "key", "_openrouter_key", False),
    ("GET", "/api/v1/auth/key"): ("openrouter", "key", "_openrouter_key", False),
    ("GET", "/"): ("ollama", "root", "_ollama_root", False),
    ("HEAD", "/"): ("ollama", "root", "_ollama_root", False),
    ("POST", "/api/chat"): ("ollama", "chat", "_ollama_chat", True),
    ("POST", "/api/generate"): ("ollama", "generate", "_ollama_chat", True),
    ("GET", "/api/tags"): ("ollama", "tags", "_ollama_tags", False),
    ("POST", "/api/embed"): ("ollama", "embeddings", "_ollama_embed", True),
    ("POST", "/api/embeddings"): ("ollama", "embeddings", "_ollama_legacy_embed", True),
    ("POST", "/api/show"): ("ollama", "show", "_ollama_show", False),
    ("GET", "/api/version"): ("ollama", "version", "_ollama_version", False),
    ("GET", "/api/ps"): ("ollama", "ps", "_ollama_ps", False),
    # llama.cpp server health check (503 "Loading model" under Fault.loading())
    ("GET", "/health"): ("openai", "health", "_health", False),
}


class Handler(OpenAIEndpoints, OllamaEndpoints):
    """Finds the provider from the path's first segment, records the request, acts out the
    provider's fault, then lets the endpoint the route names answer."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        self._started = False
        try:
            self._dispatch_inner()
        except ClientGone:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
        except Exception as exc:  # a bug in the fake itself: say so loudly
            traceback.print_exc()
            self.close_connection = True
            if not self._started:
                body = {
                    "error": {"message": f"fake server error: {exc!r}", "type": "fake_server_error"}
                }
                with contextlib.suppress(OSError):
                    self._json(500, body)

    def _dispatch_inner(self) -> None:
        self.request_id = "req_" + secrets.token_hex(12)
        self.protocol = ""
        body = self._read_body()
        parts = urlsplit(self.path)
        name, _, rest = unquote(parts.path).lstrip("/").partition("/")
        rest = "/" + rest
        if len(rest) > 1:
            rest = rest.rstrip("/")
        provider = self.server.providers.get(name)
        if provider is None:
            self._json(404, {"error": {"message": f"no fake provider named {name!r}", "code": 404}})
            return
        self.provider = provider
        route = _ROUTES.get((self.command, rest))
        if route is None and self.command == "GET" and rest.startswith("/v1/models/"):
            route = ("openai", "model", "_openai_model", False)
        payload: Any = None
        if body:
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
        record = RecordedRequest(
            method=self.command,
            path=rest,
            headers={k.lower(): v for k, v in self.headers.items()},
            json=payload,
            body=body,
            query=parts.query,
            endpoint=route[1] if route else "",
            protocol=route[0] if route else "",
            client=(str(self.client_address[0]), int(self.client_address[1])),
        )
        provider._record(record, work=bool(route and route[3]))
        if route is None:
            known = {path for _, path in _ROUTES}
            status = 405 if rest in known else 404
            self._json(
                status, {"error": {"message": f"{self.command} {rest}: not found", "code": status}}
            )
            return
        self.protocol, _endpoint, handler_name, is_work = route
        if body and payload is None and self.command == "POST":
            self._error(400, "We could not parse the JSON body of your request.")
            return
        fault = provider.fault
        if fault is not None and (
            is_work or fault.on_listing or (fault.kind == "loading" and _endpoint == "health")
        ):
            active = fault.resolve()
        else:
            active = None
        if active is not None and self._act_out(active):
            return
        if active is None and is_work and provider.latency > 0:
            self._sleep(provider.latency)
        handler: Callable[[Any, Fault | None], None] = getattr(self, handler_name)
        handler(payload if isinstance(payload, dict) else {}, active)
