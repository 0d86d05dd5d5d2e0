"""Routing a request to the endpoint that answers it, after the provider's fault."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from openmux.testing._connection import ClientGone
from openmux.testing._faults import Fault
from openmux.testing._media_endpoints import MediaEndpoints
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
    ("POST", "/v1/images/generations"): ("openai", "image", "_openai_image", True),
    ("POST", "/v1/audio/speech"): ("openai", "speech", "_openai_speech", True),
    ("POST", "/v1/audio/transcriptions"): (
        "openai",
        "transcription",
        "_openai_transcription",
        True,
    ),
}

# Bodies that are not JSON: multipart uploads and raw audio.
_RAW_BODY_ENDPOINTS = frozenset({"transcription", "run"})
_CLOUDFLARE_PREFIX = re.compile(r"^/client/v4/accounts/[^/]+/ai(/.*)$")


def _route(method: str, rest: str) -> tuple[str, _Route | None]:
    """The route of a path below the provider prefix (and the path as that route sees it)."""
    cloudflare = _CLOUDFLARE_PREFIX.match(rest)
    if cloudflare is not None:
        inner = cloudflare.group(1)
        if method == "POST" and inner.startswith("/run/"):
            return inner, ("cloudflare", "run", "_cloudflare_run", True)
        return _route(method, inner)
    if (
        method == "POST"
        and rest.startswith("/v1beta/models/")
        and rest.endswith(":generateContent")
    ):
        return rest, ("gemini", "speech", "_gemini_generate", True)
    if method == "POST" and rest.startswith("/hf-inference/models/"):
        return rest, ("huggingface", "run", "_hf_run", True)
    if method == "GET" and rest.startswith("/files/"):
        return rest, ("openai", "file", "_file", False)
    route = _ROUTES.get((method, rest))
    if route is None and method == "GET" and rest.startswith("/v1/models/"):
        route = ("openai", "model", "_openai_model", False)
    return rest, route


class Handler(OpenAIEndpoints, OllamaEndpoints, MediaEndpoints):
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
            self.answered += 1
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
        rest, route = _route(self.command, rest)
        self._raw_body = body
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
        raw = _endpoint in _RAW_BODY_ENDPOINTS
        if body and payload is None and self.command == "POST" and not raw:
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
