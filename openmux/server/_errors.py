"""OpenAI's error body and status codes for everything the server refuses or fails at.

OpenAI clients raise by status code (`openai.BadRequestError` for 400,
`AuthenticationError` 401, `NotFoundError` 404, `RateLimitError` 429,
`InternalServerError` for 5xx), and read `error.message` from the body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from openmux._redact import redact
from openmux.errors import (
    ConfigError,
    InvalidRequest,
    NoProviderAvailable,
    OpenMuxError,
    StreamInterrupted,
    UnsupportedTask,
)

# Attempt kinds that mean "try again later": every candidate was benched or over its quota.
_WAIT_KINDS = frozenset({"rate_limited", "over_quota", "circuit_open"})
# Attempt kinds that mean "not this request": a provider refused it, and none benches for it,
# so asking again gets the same answers. A 5xx would tell clients to retry (the openai SDK
# does, twice), sending the refused request round every provider again.
_REFUSED_KINDS = frozenset({"context_length", "content_policy", "http_4xx"})
_DEFAULT_RETRY_AFTER_S = 1
_SECONDS = re.compile(r"(\d+(?:\.\d+)?)\s*s\b")


class APIError(OpenMuxError):
    """An answer in OpenAI's error shape: status, type, code, message, extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = redact(message)
        self.type = type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(message: str, param: str | None = None) -> APIError:
    return APIError(400, message, param=param)


def not_served_here(name: str, task: str) -> APIError:
    """The 404 for a virtual model of a task another endpoint serves (OpenAI's answer
    to an embedding model at /v1/chat/completions)."""
    return APIError(
        404,
        f"The model {name!r} is not served at this endpoint: it is for {task} requests "
        "(GET /v1/models lists the models this server routes)",
        code="model_not_found",
        param="model",
    )


def unknown_model(name: str) -> APIError:
    return APIError(
        404,
        f"The model {name!r} does not exist; GET /v1/models lists the models this server routes",
        code="model_not_found",
        param="model",
    )


def from_openmux_error(exc: OpenMuxError, *, elapsed_s: float, total_timeout_s: float) -> APIError:
    """The status an OpenAI client expects for this failure of the router."""
    if isinstance(exc, (ConfigError, UnsupportedTask, InvalidRequest)):
        return bad_request(str(exc))
    if isinstance(exc, NoProviderAvailable):
        # The total timeout ran out, whether or not a provider could be tried in it (a
        # cold start's imports can spend a short budget): the client waited its limit.
        if elapsed_s >= total_timeout_s:
            return APIError(504, str(exc), type="timeout", code="timeout")
        kinds = {attempt["status"] for attempt in exc.attempts}
        # Models that refused the request (or were skipped as unable to take it: a size,
        # a format) leave the ones that can to say when: waiting is still the answer.
        if kinds & _WAIT_KINDS and kinds <= _WAIT_KINDS | _REFUSED_KINDS:
            wait = retry_after_seconds(exc.attempts)
            return APIError(
                429,
                str(exc),
                type="rate_limit_error",
                code="rate_limit_exceeded",
                headers={"retry-after": str(wait)},
            )
        if kinds and kinds <= _REFUSED_KINDS:
            return _refused(str(exc), kinds)
        return APIError(503, str(exc), type="service_unavailable", code="no_provider_available")
    if isinstance(exc, StreamInterrupted):
        return APIError(502, str(exc), type="server_error", code="stream_interrupted")
    return APIError(500, str(exc), type="server_error")


def _refused(message: str, kinds: set[str]) -> APIError:
    """OpenAI's 400 for a request the providers refused, with its code where OpenAI has one."""
    if "content_policy" in kinds:  # it stopped the request: the reason that counts
        return APIError(400, message, code="content_policy_violation")
    if kinds == {"context_length"}:
        return APIError(400, message, code="context_length_exceeded", param="messages")
    return bad_request(message)


def retry_after_seconds(attempts: Sequence[Mapping[str, Any]]) -> int:
    """The shortest wait any attempt's error names ("... 12 s ..."), else one second."""
    waits = [
        float(match.group(1))
        for attempt in attempts
        for match in _SECONDS.finditer(str(attempt.get("error") or ""))
    ]
    return max(1, round(min(waits))) if waits else _DEFAULT_RETRY_AFTER_S


def timeout_error(total_timeout_s: float) -> APIError:
    return APIError(
        504,
        f"no answer within the total timeout of {total_timeout_s:g} s",
        type="timeout",
        code="timeout",
    )


def stream_error_event(error: APIError) -> bytes:
    """The SSE event that ends a stream which broke after its first chunk (no `[DONE]`)."""
    return b"event: error\ndata: " + json.dumps(error.body()).encode() + b"\n\n"
