"""The Ollama native endpoints of the fake server (wire formats in `_ollama`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from openmux.testing import _ollama
from openmux.testing._connection import Connection
from openmux.testing._faults import Fault


class OllamaEndpoints(Connection):
    def _ollama_root(self, body: dict[str, Any], fault: Fault | None) -> None:
        self._send(200, b"Ollama is running", "text/plain; charset=utf-8")

    def _ollama_chat(self, body: dict[str, Any], fault: Fault | None) -> None:
        """`/api/chat` and `/api/generate`."""
        p = self.provider
        generate = urlsplit(self.path).path.endswith("/api/generate")
        parse = _ollama.parse_generate if generate else _ollama.parse_chat
        request = parse(body, p.models[0] if p.models else "model")
        if self._unknown_model(request.model):
            return
        reply = self._reply(request)
        slow = fault if fault is not None and fault.kind == "slow_first_token" else None
        broken = fault if fault is not None and fault.kind == "mid_stream_error" else None
        stalled = fault if fault is not None and fault.kind == "stalls" else None
        if body.get("stream") is False:
            if stalled is not None:
                self._start_chunked("application/json; charset=utf-8")
                self._stall(stalled, b"\n")
                return
            if slow is not None:
                self._sleep(slow.seconds or 0.0)
            if broken is not None:
                self._json(500, _ollama.error_body(broken.message or "error"))
                return
            respond = _ollama.generate_response if generate else _ollama.chat_response
            self._json(200, respond(reply, request.model))
            return
        self._start_chunked("application/x-ndjson")
        if slow is not None:
            self._sleep(slow.seconds or 0.0)
        stream = _ollama.generate_stream if generate else _ollama.chat_stream
        lines = stream(reply, request.model)
        if stalled is not None:
            self._stream(_ollama.ndjson(line) for line in lines[: stalled.after_chunks])
            self._stall(stalled, b"")  # its streams have no keep-alive comments
            return
        if broken is not None:
            lines = lines[: min(broken.after_chunks, len(lines) - 1)]
            lines.append(_ollama.error_body(broken.message or "error"))
        self._stream(_ollama.ndjson(line) for line in lines)
        self._end_chunked()

    def _ollama_tags(self, body: dict[str, Any], fault: Fault | None) -> None:
        self._json(200, _ollama.tags(self.provider))

    def _ollama_ps(self, body: dict[str, Any], fault: Fault | None) -> None:
        self._json(200, _ollama.ps(self.provider))

    def _ollama_version(self, body: dict[str, Any], fault: Fault | None) -> None:
        self._json(200, {"version": _ollama.VERSION})

    def _ollama_show(self, body: dict[str, Any], fault: Fault | None) -> None:
        model = str(body.get("model") or body.get("name") or "")
        self._json(200, _ollama.show(self.provider, model))

    def _ollama_embed(self, body: dict[str, Any], fault: Fault | None) -> None:
        if fault is not None and fault.kind == "slow_first_token":
            self._sleep(fault.seconds or 0.0)
        if fault is not None and fault.kind == "mid_stream_error":
            self._json(500, _ollama.error_body(fault.message or "error"))
            return
        model = str(body.get("model") or "")
        if model and self._unknown_model(model, embedding=True):
            return
        self._json(200, _ollama.embed_response(body, self.provider))

    def _ollama_legacy_embed(self, body: dict[str, Any], fault: Fault | None) -> None:
        if fault is not None and fault.kind == "slow_first_token":
            self._sleep(fault.seconds or 0.0)
        self._json(200, _ollama.legacy_embedding(body, self.provider))
