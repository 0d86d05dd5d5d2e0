"""The OpenAI and OpenRouter endpoints of the fake server (wire formats in `_openai`)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote, urlsplit

from openmux.testing import _openai, _openai_listings
from openmux.testing._connection import Connection
from openmux.testing._faults import Fault


class OpenAIEndpoints(Connection):
    def _flavor(self) -> _openai.Flavor:
        return "openrouter" if self.protocol == "openrouter" else "openai"

    def _openai_chat(self, body: dict[str, Any], fault: Fault | None) -> None:
        p = self.provider
        flavor = self._flavor()
        request = _openai.parse_chat(body, p.models[0] if p.models else "model")
        if self._unknown_model(request.model):
            return
        reply = self._reply(request)
        model = request.model
        slow = fault if fault is not None and fault.kind == "slow_first_token" else None
        broken = fault if fault is not None and fault.kind == "mid_stream_error" else None
        stalled = fault if fault is not None and fault.kind == "stalls" else None

        if not body.get("stream"):
            if stalled is not None:
                self._start_chunked("application/json")
                self._stall(stalled, b"\n")
                return
            payload: dict[str, Any]
            if broken is not None:
                partial = "".join(reply.text_pieces()[: broken.after_chunks])
                payload = _openai.completion(
                    reply,
                    model,
                    flavor,
                    p.name,
                    text=partial,
                    finish_reason="error",
                    error={"code": broken.code, "message": broken.message or "error"},
                )
            else:
                payload = _openai.completion(reply, model, flavor, p.name)
            if slow is not None and slow.keepalive:
                # OpenRouter keeps idle non-streaming connections alive with whitespace.
                self._start_chunked("application/json")
                self._wait_first_token(slow.seconds or 0.0, b"\n")
                self._chunk(json.dumps(payload, ensure_ascii=False).encode())
                self._end_chunked()
                return
            if slow is not None:
                self._sleep(slow.seconds or 0.0)
            self._json(200, payload)
            return

        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        maker = _openai.ChunkMaker(model, flavor, p.name, include_usage)
        self._start_chunked("text/event-stream; charset=utf-8")
        if slow is not None:
            self._wait_first_token(
                slow.seconds or 0.0, _openai.SSE_PROCESSING if slow.keepalive else None
            )
        chunks = maker.content_chunks(reply)
        if stalled is not None:
            self._stream(_openai.sse(c) for c in chunks[: 1 + stalled.after_chunks])
            idle = _openai.sse(maker.chunk({})) if stalled.empty_events else _openai.SSE_KEEPALIVE
            self._stall(stalled, idle)
            return
        if broken is not None:
            head = chunks[: 1 + broken.after_chunks]
            tail = [maker.error_chunk(broken.code, broken.message or "error")]
            self._stream(_openai.sse(c) for c in [*head, *tail])
            self._end_chunked()
            return
        chunks += maker.finish_chunks(reply)
        self._stream([*(_openai.sse(c) for c in chunks), _openai.SSE_DONE])
        self._end_chunked()

    def _openai_models(self, body: dict[str, Any], fault: Fault | None) -> None:
        self._json(200, _openai_listings.models_list(self.provider))

    def _openai_model(self, body: dict[str, Any], fault: Fault | None) -> None:
        model_id = urlsplit(self.path).path.split("/v1/models/", 1)[1]
        for entry in _openai_listings.models_list(self.provider)["data"]:
            if entry["id"] == unquote(model_id):
                self._json(200, entry)
                return
        self._error(404, f"The model `{unquote(model_id)}` does not exist.")

    def _openai_embeddings(self, body: dict[str, Any], fault: Fault | None) -> None:
        if fault is not None and fault.kind == "slow_first_token":
            self._sleep(fault.seconds or 0.0)
        if fault is not None and fault.kind == "mid_stream_error":
            self._json(200, {"error": {"code": fault.code, "message": fault.message}})
            return
        model = str(body.get("model") or "")
        if model and self._unknown_model(model, embedding=True):
            return
        self._json(200, _openai_listings.embeddings(body, self.provider))

    def _openrouter_models(self, body: dict[str, Any], fault: Fault | None) -> None:
        self._json(200, _openai_listings.openrouter_catalog(self.provider))

    def _openrouter_key(self, body: dict[str, Any], fault: Fault | None) -> None:
        self._json(200, _openai_listings.openrouter_key(self.provider))

    def _health(self, body: dict[str, Any], fault: Fault | None) -> None:
        self._json(200, {"status": "ok"})
