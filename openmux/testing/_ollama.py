"""Ollama native API wire formats.

Reference: https://github.com/ollama/ollama/blob/main/docs/api.md
(`POST /api/chat` and `POST /api/generate` as NDJSON stream or single JSON,
`GET /api/tags`,
`POST /api/embed`, `POST /api/show`, `GET /api/version`, `GET /api/ps`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from openmux.testing._scripted import (
    ChatRequest,
    Reply,
    ToolSpec,
    count_tokens,
    embed,
    embedding_inputs,
)

if TYPE_CHECKING:
    from openmux.testing._provider import FakeProvider

VERSION = "0.12.6"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def tag_name(model: str) -> str:
    """Ollama lists models with a tag; a bare name means `:latest`."""
    return model if ":" in model else f"{model}:latest"


def parse_chat(body: Mapping[str, Any], default_model: str) -> ChatRequest:
    """Read an Ollama `/api/chat` request."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    tools: list[ToolSpec] = []
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        fn: dict[str, Any] = tool["function"] if isinstance(tool.get("function"), dict) else tool
        if isinstance(fn.get("name"), str):
            tools.append(
                ToolSpec(fn["name"], str(fn.get("description") or ""), fn.get("parameters") or {})
            )
    fmt = body.get("format")
    options: dict[str, Any] = body["options"] if isinstance(body.get("options"), dict) else {}
    stop = options.get("stop")
    stops = [stop] if isinstance(stop, str) else [s for s in stop or [] if isinstance(s, str)]
    num_predict = options.get("num_predict")
    return ChatRequest(
        model=str(body.get("model") or default_model),
        messages=messages,
        raw=dict(body),
        tools=tools,
        tool_choice=None,  # Ollama has no tool_choice: the model decides
        json_schema=fmt if isinstance(fmt, dict) else None,
        json_mode=fmt == "json",
        stop=stops,
        # num_predict -1 (infinite) / -2 (fill context) mean no limit
        max_tokens=num_predict if isinstance(num_predict, int) and num_predict >= 0 else None,
    )


def parse_generate(body: Mapping[str, Any], default_model: str) -> ChatRequest:
    """Read an Ollama `/api/generate` request as a one-turn chat."""
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("system"), str) and body["system"]:
        messages.append({"role": "system", "content": body["system"]})
    messages.append(
        {"role": "user", "content": str(body.get("prompt") or ""), "images": body.get("images")}
    )
    return parse_chat({**body, "messages": messages, "tools": None}, default_model)


def generate_response(reply: Reply, model: str) -> dict[str, Any]:
    """Non-streaming `/api/generate` answer."""
    return {
        "model": model,
        "created_at": now_iso(),
        "response": reply.text,
        **_done_fields(reply, _done_reason(reply)),
    }


def generate_stream(reply: Reply, model: str) -> list[dict[str, Any]]:
    """NDJSON objects of a streamed `/api/generate` answer."""
    lines: list[dict[str, Any]] = [
        {"model": model, "created_at": now_iso(), "response": piece, "done": False}
        for piece in reply.text_pieces()
    ]
    lines.append(
        {
            "model": model,
            "created_at": now_iso(),
            "response": "",
            **_done_fields(reply, _done_reason(reply)),
        }
    )
    return lines


def message(reply: Reply, text: str | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": reply.text if text is None else text}
    if reply.tool_calls:
        msg["content"] = ""
        msg["tool_calls"] = [
            {
                "id": call.id,
                "function": {"index": i, "name": call.name, "arguments": call.arguments},
            }
            for i, call in enumerate(reply.tool_calls)
        ]
    return msg


def _done_fields(reply: Reply, done_reason: str) -> dict[str, Any]:
    return {
        "done": True,
        "done_reason": done_reason,
        "total_duration": 1_000_000 * (reply.total_tokens + 5),
        "load_duration": 1_000_000,
        "prompt_eval_count": reply.prompt_tokens,
        "prompt_eval_duration": 500_000 * reply.prompt_tokens,
        "eval_count": reply.completion_tokens,
        "eval_duration": 1_000_000 * reply.completion_tokens,
    }


def _done_reason(reply: Reply) -> str:
    # Ollama reports "stop" for tool calls too; "length" when num_predict hit.
    return "length" if reply.finish_reason == "length" else "stop"


def chat_response(reply: Reply, model: str) -> dict[str, Any]:
    """Non-streaming (`"stream": false`) `/api/chat` answer."""
    return {
        "model": model,
        "created_at": now_iso(),
        "message": message(reply),
        **_done_fields(reply, _done_reason(reply)),
    }


def chat_stream(reply: Reply, model: str) -> list[dict[str, Any]]:
    """NDJSON objects of a streamed `/api/chat` answer, final `done` object last."""
    lines: list[dict[str, Any]] = []
    if reply.tool_calls:
        lines.append(
            {"model": model, "created_at": now_iso(), "message": message(reply), "done": False}
        )
    else:
        for piece in reply.text_pieces():
            lines.append(
                {
                    "model": model,
                    "created_at": now_iso(),
                    "message": {"role": "assistant", "content": piece},
                    "done": False,
                }
            )
    lines.append(
        {
            "model": model,
            "created_at": now_iso(),
            "message": {"role": "assistant", "content": ""},
            **_done_fields(reply, _done_reason(reply)),
        }
    )
    return lines


def ndjson(obj: Mapping[str, Any]) -> bytes:
    return (json.dumps(obj, ensure_ascii=False) + "\n").encode()


def error_body(message: str) -> dict[str, Any]:
    """Ollama errors are `{"error": "message"}`."""
    return {"error": message}


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _details(name: str) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "1B",
        "quantization_level": "Q4_K_M",
    }


def tags(provider: FakeProvider) -> dict[str, Any]:
    models = []
    for name in [*provider.models, *provider.embedding_models]:
        models.append(
            {
                "name": tag_name(name),
                "model": tag_name(name),
                "modified_at": "2025-01-01T00:00:00Z",
                "size": 1_321_098_329,
                "digest": _digest(name),
                "details": _details(name),
            }
        )
    return {"models": models}


def ps(provider: FakeProvider) -> dict[str, Any]:
    return {
        "models": [
            {
                "name": tag_name(name),
                "model": tag_name(name),
                "size": 1_321_098_329,
                "digest": _digest(name),
                "details": _details(name),
                "expires_at": "2099-01-01T00:00:00Z",
                "size_vram": 1_321_098_329,
            }
            for name in provider.models[:1]
        ]
    }


def show(provider: FakeProvider, model: str) -> dict[str, Any]:
    embedding = model in provider.embedding_models or tag_name(model) in map(
        tag_name, provider.embedding_models
    )
    return {
        "modelfile": f"FROM {model}\n",
        "parameters": "",
        "template": "{{ .Prompt }}",
        "details": _details(model),
        "model_info": {"general.architecture": "llama", "llama.context_length": 32768},
        "capabilities": ["embedding"] if embedding else ["completion", "tools"],
        "modified_at": "2025-01-01T00:00:00Z",
    }


def embed_response(body: Mapping[str, Any], provider: FakeProvider) -> dict[str, Any]:
    """`POST /api/embed`: `{"model", "embeddings": [[...]], ...}`."""
    model = str(body.get("model") or (provider.embedding_models or ["embedding"])[0])
    texts = embedding_inputs(body.get("input"))
    dims = body.get("dimensions")
    size = dims if isinstance(dims, int) and dims > 0 else provider.embedding_dims
    tokens = sum(count_tokens(t) for t in texts)
    return {
        "model": model,
        "embeddings": [embed(t, model, size) for t in texts],
        "total_duration": 1_000_000 * (tokens + 1),
        "load_duration": 1_000_000,
        "prompt_eval_count": tokens,
    }


def legacy_embedding(body: Mapping[str, Any], provider: FakeProvider) -> dict[str, Any]:
    """Deprecated `POST /api/embeddings`: `{"embedding": [...]}` for one prompt."""
    model = str(body.get("model") or (provider.embedding_models or ["embedding"])[0])
    return {"embedding": embed(str(body.get("prompt") or ""), model, provider.embedding_dims)}
