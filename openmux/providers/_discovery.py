"""Which models a local server (Ollama, LM Studio, llama.cpp, a loopback proxy) has loaded.

Probes run in parallel with short timeouts, so a machine where nothing listens
pays one refused connection per server, not a timeout each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openmux.config import ProviderSettings

PROBE_TIMEOUT = 0.3
PROBE_SECONDS = 3.0
"""The most a listing may take, however steadily it arrives: a request waits for it."""
CACHE_SECONDS = 30.0

# How each protocol lists its models, and how to read the answer.
_LISTING: Mapping[str, tuple[str, str, str]] = {
    # protocol: (path, list key, id key)
    "ollama": (
        "/api/tags",
        "models",
        "name",
    ),  # https://github.com/ollama/ollama/blob/main/docs/api.md#list-local-models
    "openai": (
        "/models",
        "data",
        "id",
    ),  # https://platform.openai.com/docs/api-reference/models/list
}


def list_models(provider: ProviderSettings, timeout: float = PROBE_TIMEOUT) -> list[str] | None:
    """The server's model ids, or None when it does not answer."""
    import httpx

    from openmux.providers._fetch import FetchError, bounded_get, listed_id

    listing = _LISTING.get(provider.protocol)
    if listing is None:
        return None
    path, list_key, id_key = listing
    headers = {}
    if provider.api_key is not None:
        headers["Authorization"] = f"Bearer {provider.api_key.get_secret_value()}"
    try:
        url = provider.base_url + path
        response = bounded_get(url, headers, timeout=timeout, total=PROBE_SECONDS)
        response.raise_for_status()
        entries: Any = response.json().get(list_key, [])
        listed = (listed_id(e.get(id_key)) for e in entries if isinstance(e, dict))
        return [model_id for model_id in listed if model_id is not None]
    except (FetchError, httpx.HTTPError, ValueError, AttributeError, TypeError):
        return None


class LocalDiscovery:
    """Cached answers of the local servers; a stale answer is refreshed in the background."""

    def __init__(self) -> None:
        self._found: dict[str, tuple[float, list[str] | None]] = {}
        self._lock = threading.Lock()
        self._refreshing = False

    def models(self, providers: Iterable[ProviderSettings]) -> dict[str, list[str] | None]:
        wanted = list(providers)
        missing = [p for p in wanted if p.name not in self._found]
        if missing:
            self._probe(missing)
        stale = [p for p in wanted if time.monotonic() - self._found[p.name][0] > CACHE_SECONDS]
        if stale and not self._refreshing:
            self._refreshing = True
            threading.Thread(target=self._refresh, args=(stale,), daemon=True).start()
        return {p.name: self._found[p.name][1] for p in wanted}

    def forget(self, name: str) -> None:
        """Probe again next time (a server stopped or started)."""
        with self._lock:
            self._found.pop(name, None)

    def _refresh(self, providers: list[ProviderSettings]) -> None:
        try:
            self._probe(providers)
        finally:
            self._refreshing = False

    def _probe(self, providers: list[ProviderSettings]) -> None:
        if len(providers) == 1:
            results = [list_models(providers[0])]
        else:
            with ThreadPoolExecutor(max_workers=len(providers)) as pool:
                results = list(pool.map(list_models, providers))
        now = time.monotonic()
        with self._lock:
            for provider, found in zip(providers, results, strict=True):
                self._found[provider.name] = (now, found)
