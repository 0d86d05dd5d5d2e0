"""Fetching a provider's model listing and reading it into offers.

- OpenRouter `GET /api/v1/models`: pricing (free = zero prompt and completion
  price), `architecture.input_modalities`/`output_modalities`,
  `supported_parameters` (tools, response_format), `context_length`.
- OpenAI-compatible `GET /v1/models` (the free-tier clouds, LM Studio, a
  llama.cpp server): ids, plus `context_window` (Groq) or `meta.n_ctx_train`
  (llama.cpp) where the server gives them.
- Ollama `GET /api/tags`: model names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from openmux.catalog._model import Offer, guess_kind
from openmux.errors import OpenMuxError

if TYPE_CHECKING:
    from openmux.config import ProviderSettings

REFRESH_TIMEOUT = 10.0


class RefreshError(OpenMuxError):
    """The listing could not be fetched or read."""


def listing_url(provider: ProviderSettings) -> str | None:
    if provider.protocol == "ollama":
        return provider.base_url + "/api/tags"
    if provider.protocol == "openai":
        return provider.base_url + "/models"
    return None  # in-process models have no listing


def fetch_offers(
    provider: ProviderSettings,
    canonical: Callable[[str], str | None],
    source: str,
    timeout: float = REFRESH_TIMEOUT,
) -> list[Offer]:
    """The provider's offers now; RefreshError when it does not answer with a listing."""
    from openmux.providers import FetchError, bounded_get, listed_id

    url = listing_url(provider)
    if url is None:
        raise RefreshError(f"{provider.name} has no model listing ({provider.protocol})")
    headers = dict(provider.headers)
    if provider.api_key is not None:
        headers["Authorization"] = f"Bearer {provider.api_key.get_secret_value()}"
    try:
        response = bounded_get(url, headers, timeout=timeout)
    except FetchError as exc:
        raise RefreshError(str(exc)) from None
    if response.status_code != 200:
        raise RefreshError(f"HTTP {response.status_code} from {url}")
    try:
        body = response.json()
    except ValueError:
        raise RefreshError(f"{url} did not answer JSON") from None
    if provider.protocol == "ollama":
        entries = body.get("models") if isinstance(body, Mapping) else None
        id_key = "name"
    else:
        entries = body.get("data") if isinstance(body, Mapping) else None
        id_key = "id"
    if not isinstance(entries, list):
        raise RefreshError(f"{url} answered without a model list")
    offers: dict[str, Offer] = {}
    for entry in entries:
        model_id = listed_id(entry.get(id_key)) if isinstance(entry, Mapping) else None
        if model_id is not None:
            offer = parse_entry(provider.name, entry, model_id, canonical, source)
            offers[offer.id] = offer
    return list(offers.values())


def parse_entry(
    provider: str,
    entry: Mapping[str, Any],
    model_id: str,
    canonical: Callable[[str], str | None],
    source: str,
) -> Offer:
    if model_id.startswith("models/"):  # Gemini lists "models/gemini-2.5-flash"
        model_id = model_id[len("models/") :]
    data: dict[str, Any] = {"id": model_id, **guess_kind(model_id)}
    context = _context_length(entry)
    if context:
        data["context_length"] = context
    architecture = entry.get("architecture")
    if isinstance(architecture, Mapping):
        inputs = architecture.get("input_modalities")
        outputs = architecture.get("output_modalities")
        if isinstance(inputs, list):
            data["inputs"] = [str(m) for m in inputs]
            data["vision"] = "image" in inputs
        if isinstance(outputs, list):
            data["outputs"] = [str(m) for m in outputs]
            data["embeddings"] = "embeddings" in outputs
    parameters = entry.get("supported_parameters")
    if isinstance(parameters, list):
        data["tools"] = "tools" in parameters
        data["json_mode"] = "response_format" in parameters or "structured_outputs" in parameters
    pricing = entry.get("pricing")
    if isinstance(pricing, Mapping):
        data["free"] = _zero(pricing.get("prompt")) and _zero(pricing.get("completion"))
    data["model"] = canonical(model_id)
    return Offer.from_dict(provider, data, source)


def _context_length(entry: Mapping[str, Any]) -> int | None:
    for value in (
        entry.get("context_length"),
        entry.get("context_window"),
        (entry.get("top_provider") or {}).get("context_length")
        if isinstance(entry.get("top_provider"), Mapping)
        else None,
        (entry.get("meta") or {}).get("n_ctx_train")
        if isinstance(entry.get("meta"), Mapping)
        else None,
    ):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _zero(price: Any) -> bool:
    try:
        return float(price) == 0.0
    except (TypeError, ValueError):
        return False
