"""`FakeProvider`: one named fake provider living on a `FakeProviderServer`."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openmux.testing._faults import Fault
from openmux.testing._scripted import ReplySource

if TYPE_CHECKING:
    from openmux.testing._server import FakeProviderServer


ResponseHeaders = Mapping[str, str] | Callable[["FakeProvider"], Mapping[str, str]]


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake provider received."""

    method: str
    path: str  # below the provider prefix, e.g. "/v1/chat/completions" or "/api/chat"
    headers: dict[str, str]  # lower-cased names
    json: Any  # the decoded JSON body, or None
    body: bytes = b""
    query: str = ""
    endpoint: str = ""  # "chat", "embeddings", "models", "key", "tags", ...
    protocol: str = ""  # "openai", "openrouter" or "ollama"
    client: tuple[str, int] = ("", 0)  # the client's address: one port per connection
    received_at: float = field(default_factory=time.time)


class FakeProvider:
    """A fake LLM provider mounted at `/{name}/` on its server.

    Mutable settings (`fault`, `latency`, `reply`, `stream_delay`) may be
    changed at any time; they apply to requests that arrive afterwards.
    """

    def __init__(
        self,
        server: FakeProviderServer,
        name: str,
        *,
        models: list[str],
        embedding_models: list[str],
        reply: ReplySource,
        model_info: Mapping[str, Mapping[str, Any]] | None = None,
        key_info: Mapping[str, Any] | None = None,
        embedding_dims: int = 16,
        latency: float = 0.0,
        fault: Fault | None = None,
        strict_models: bool = False,
        max_recorded: int = 10_000,
        response_headers: ResponseHeaders | None = None,
    ) -> None:
        self._server = server
        self.name = name
        self.models = list(models)
        self.embedding_models = list(embedding_models)
        self.reply: ReplySource = reply
        self.model_info: dict[str, Mapping[str, Any]] = dict(model_info or {})
        self.key_info: dict[str, Any] = dict(key_info or {})
        self.embedding_dims = embedding_dims
        self.latency = latency
        self.fault: Fault | None = fault
        #: seconds to wait between streamed chunks (healthy streams too)
        self.stream_delay = 0.0
        #: headers on every response (`x-ratelimit-*`, say), or a callable given this
        #: provider that returns them (to count remaining requests down)
        self.response_headers: ResponseHeaders = response_headers or {}
        #: when true, unknown model ids get the protocol's "model not found" error
        self.strict_models = strict_models
        # Media endpoints: how images come back ("b64_json" or "url"), the transcript of
        # every recording, and the files served for image links.
        self.image_response = "b64_json"
        self.transcript = f"Transcript from {name}."
        self.files: dict[str, bytes] = {}
        self.created_at = time.time()
        self._lock = threading.Lock()
        self._hits = 0
        self._hits_by_path: dict[str, int] = {}
        # the most recent requests only, so a long-running server stays small
        self._requests: deque[RecordedRequest] = deque(maxlen=max_recorded)

    def __repr__(self) -> str:
        return f"FakeProvider(name={self.name!r}, models={self.models!r}, fault={self.fault!r})"

    # ------------------------------------------------------------------ URLs
    @property
    def url(self) -> str:
        """Root of this provider: `http://127.0.0.1:PORT/NAME`."""
        return f"{self._server.url}/{self.name}"

    @property
    def base_url(self) -> str:
        """OpenAI-compatible base URL (`.../NAME/v1`)."""
        return f"{self.url}/v1"

    @property
    def openrouter_base_url(self) -> str:
        """OpenRouter-compatible base URL (`.../NAME/api/v1`)."""
        return f"{self.url}/api/v1"

    @property
    def ollama_base_url(self) -> str:
        """Ollama native API base URL (`.../NAME`)."""
        return self.url

    def headers_now(self) -> Mapping[str, str]:
        headers = self.response_headers
        return headers(self) if callable(headers) else headers

    def cloudflare_base_url(self, account_id: str = "account") -> str:
        """Cloudflare Workers AI (`.../NAME/client/v4/accounts/ID/ai/v1`); media models are
        under `.../ai/run/@cf/...`."""
        return f"{self.url}/client/v4/accounts/{account_id}/ai/v1"

    @property
    def gemini_base_url(self) -> str:
        """Gemini's OpenAI-compatible base (`.../NAME/v1beta/openai`); its speech models
        answer on the native `.../v1beta/models/MODEL:generateContent`."""
        return f"{self.url}/v1beta/openai"

    # --------------------------------------------------------------- counters
    @property
    def hits(self) -> int:
        """Requests received on work endpoints (chat and embeddings)."""
        with self._lock:
            return self._hits

    @property
    def hits_by_path(self) -> dict[str, int]:
        """Requests received per path (below the provider prefix), all endpoints."""
        with self._lock:
            return dict(self._hits_by_path)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Requests received (the last 10,000), oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest | None:
        with self._lock:
            return self._requests[-1] if self._requests else None

    def reset(self) -> None:
        """Forget counted and recorded requests (settings are kept)."""
        with self._lock:
            self._hits = 0
            self._hits_by_path.clear()
            self._requests.clear()

    def _record(self, request: RecordedRequest, *, work: bool) -> None:
        with self._lock:
            if work:
                self._hits += 1
            self._hits_by_path[request.path] = self._hits_by_path.get(request.path, 0) + 1
            self._requests.append(request)
