"""OpenAI and OpenRouter listings (models, the OpenRouter catalog and key) and embeddings.

References:
- Models: https://platform.openai.com/docs/api-reference/models
- Embeddings: https://platform.openai.com/docs/api-reference/embeddings
- OpenRouter models https://openrouter.ai/docs/api-reference/list-available-models
  key https://openrouter.ai/docs/api-reference/api-keys/get-current-key
"""

from __future__ import annotations

import base64
import copy
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from openmux.testing._scripted import count_tokens, embed, embedding_inputs

if TYPE_CHECKING:
    from openmux.testing._provider import FakeProvider


# --------------------------------------------------------------- listings
def models_list(provider: FakeProvider) -> dict[str, Any]:
    created = int(provider.created_at)
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": created, "owned_by": provider.name}
            for name in [*provider.models, *provider.embedding_models]
        ],
    }


def openrouter_model(provider: FakeProvider, model_id: str) -> dict[str, Any]:
    """One entry of OpenRouter's model catalog (GET /api/v1/models)."""
    free = model_id.endswith(":free")
    price = (lambda v: "0") if free else (lambda v: v)
    entry: dict[str, Any] = {
        "id": model_id,
        "canonical_slug": model_id.split(":")[0],
        "hugging_face_id": "",
        "name": f"{provider.name.title()}: {model_id}",
        "created": int(provider.created_at),
        "description": f"Fake model {model_id} served by the OpenMux test server.",
        "context_length": 32768,
        "architecture": {
            "modality": "text+image->text",
            "input_modalities": ["text", "image"],
            "output_modalities": ["text"],
            "tokenizer": "Other",
            "instruct_type": None,
        },
        "pricing": {
            "prompt": price("0.0000001"),
            "completion": price("0.0000002"),
            "request": "0",
            "image": "0",
            "web_search": "0",
            "internal_reasoning": "0",
            "input_cache_read": "0",
            "input_cache_write": "0",
        },
        "top_provider": {
            "context_length": 32768,
            "max_completion_tokens": 4096,
            "is_moderated": False,
        },
        "per_request_limits": None,
        "supported_parameters": [
            "max_tokens",
            "temperature",
            "top_p",
            "stop",
            "seed",
            "tools",
            "tool_choice",
            "response_format",
            "structured_outputs",
        ],
        "default_parameters": {"temperature": None, "top_p": None, "frequency_penalty": None},
    }
    override = provider.model_info.get(model_id)
    return _deep_merge(entry, override) if override else entry


def openrouter_catalog(provider: FakeProvider) -> dict[str, Any]:
    return {"data": [openrouter_model(provider, m) for m in provider.models]}


def openrouter_key(provider: FakeProvider) -> dict[str, Any]:
    """GET /api/v1/key: the current key's limits and usage."""
    data: dict[str, Any] = {
        "label": "sk-or-v1-fak...e00",
        "limit": None,
        "limit_reset": None,
        "limit_remaining": None,
        "include_byok_in_limit": False,
        "usage": 0,
        "usage_daily": 0,
        "usage_weekly": 0,
        "usage_monthly": 0,
        "byok_usage": 0,
        "byok_usage_daily": 0,
        "byok_usage_weekly": 0,
        "byok_usage_monthly": 0,
        "is_free_tier": True,
        "is_provisioning_key": False,
        "rate_limit": {"requests": 20, "interval": "10s"},
    }
    return {"data": _deep_merge(data, provider.key_info)}


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# -------------------------------------------------------------- embeddings
def embeddings(body: Mapping[str, Any], provider: FakeProvider) -> dict[str, Any]:
    model = str(body.get("model") or (provider.embedding_models or ["embedding"])[0])
    texts = embedding_inputs(body.get("input"))
    dims = body.get("dimensions")
    size = dims if isinstance(dims, int) and dims > 0 else provider.embedding_dims
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(texts):
        vector = embed(text, model, size)
        value: Any = (
            base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            if as_base64
            else vector
        )
        data.append({"object": "embedding", "index": index, "embedding": value})
    tokens = sum(count_tokens(t) for t in texts)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
