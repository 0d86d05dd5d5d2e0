"""One candidate's failure, and the mapping from any client exception to a failure kind.

The router decides what to do from the kind alone (fail over, bench, stop), so
every client library's exceptions are mapped here and nowhere else.
"""

from __future__ import annotations

import errno
import json
import math
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from openmux._redact import redact
from openmux.errors import InvalidRequest, OpenMuxError

FailureKind = Literal[
    "connection",
    "timeout",
    "rate_limited",
    "http_4xx",
    "http_5xx",
    "auth",
    "payment_required",
    "context_length",
    "content_policy",
    "bad_response",
    "stream_interrupted",
    "circuit_open",
    "not_free",
    "over_quota",
    "cancelled",
    "local",
]
"""`local`: the caller's request or this machine failed, not the provider (benches nothing)."""

_CONTEXT_RE = re.compile(
    r"context[ _-]?(length|window)|maximum context|too many tokens|prompt is too long|"
    r"reduce the length|context_length_exceeded",
    re.IGNORECASE,
)
_POLICY_RE = re.compile(r"content[ _-]?(policy|filter)|moderation|flagged|safety", re.IGNORECASE)


class ProviderFailure(OpenMuxError):
    """A candidate could not answer; `kind` decides whether and how the router moves on."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        detail: Any = None,
    ) -> None:
        self.kind: FailureKind = kind
        self.status = status
        self.retry_after = retry_after
        self.detail = detail
        """The provider's decoded error body, for what it says about quotas (a 429's)."""
        super().__init__(redact(message)[:500])


MAX_ASKED_WAIT_S = 86_400.0
"""The longest a provider's rate-limit headers can bench it: no free tier's window is
longer than a day, and a wait past it ("Retry-After: 1e300") is garbage, not a reason
to leave a provider out for good."""


def retry_after_seconds(
    headers: Mapping[str, str] | None, now: float | None = None
) -> float | None:
    """Retry-After (seconds or an HTTP date) or X-RateLimit-Reset (epoch milliseconds),
    at most MAX_ASKED_WAIT_S."""
    wait = _asked_wait(headers, now)
    return None if wait is None else min(wait, MAX_ASKED_WAIT_S)


def _asked_wait(headers: Mapping[str, str] | None, now: float | None) -> float | None:
    if not headers:
        return None
    now = time.time() if now is None else now
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value:
        try:
            seconds = float(value)
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError):
                pass
        else:
            # "1e400" or "inf" is no wait at all (it would bench the provider for ever).
            if math.isfinite(seconds):
                return max(0.0, seconds)
    reset = headers.get("x-ratelimit-reset") or headers.get("X-RateLimit-Reset")
    if reset:
        try:
            stamp = float(reset)
        except ValueError:
            return None
        if not math.isfinite(stamp):
            return None
        # OpenRouter sends epoch milliseconds; other providers send seconds to wait.
        if stamp > 1e12:
            return max(0.0, stamp / 1000.0 - now)
        if stamp > 1e9:
            return max(0.0, stamp - now)
        return stamp
    return None


def kind_for_status(status: int, message: str = "") -> FailureKind:
    if status in (401, 403):
        return "auth"
    if status == 402:
        return "payment_required"
    if status == 429:
        return "rate_limited"
    if status == 408:
        return "timeout"
    if status == 413 or (status == 400 and _CONTEXT_RE.search(message)):
        return "context_length"
    if status in (400, 403, 451) and _POLICY_RE.search(message):
        return "content_policy"
    if status >= 500:
        return "http_5xx"
    return "http_4xx"


def _status_of(code: Any) -> int | None:
    try:
        return int(code)
    except (TypeError, ValueError):
        return None


def failure_from_error_object(error: Mapping[str, Any]) -> ProviderFailure:
    """An error object found in a 200 body or a stream chunk (OpenRouter does both)."""
    message = str(error.get("message") or error)
    status = _status_of(error.get("code"))
    kind: FailureKind = kind_for_status(status, message) if status else "bad_response"
    if kind == "http_4xx" and not status:
        kind = "bad_response"
    return ProviderFailure(kind, f"error in response body: {message}", status=status)


def _raised_by(exc: BaseException, package: str) -> bool:
    """True when any class of the exception comes from `package` (wrappers subclass SDK errors)."""
    return any(cls.__module__.split(".")[0] == package for cls in type(exc).__mro__)


# LangChain's provider-neutral model errors (langchain_core.exceptions), by class name.
_LANGCHAIN_KINDS: Mapping[str, FailureKind] = {
    "ContextOverflowError": "context_length",
    "ModelRefusalError": "content_policy",
    "ModelAuthenticationError": "auth",
    "ModelPermissionDeniedError": "auth",
    "ModelRateLimitError": "rate_limited",
    "ModelTimeoutError": "timeout",
    "ModelConnectionError": "connection",
    "ModelAPIError": "http_5xx",
    "ModelNotFoundError": "http_4xx",
    "ModelInvalidRequestError": "http_4xx",
}


# The bundled model's refusals of a request it cannot take (openmux.local, a sibling this
# layer does not import), by class name: another model may take it, and the local model,
# which said so before generating, is not to blame.
_LOCAL_REFUSALS: Mapping[str, FailureKind] = {
    "LocalToolsUnsupported": "http_4xx",
    "LocalContextLengthError": "context_length",
}


def _kind_by_class(exc: BaseException) -> FailureKind | None:
    """The kind of a LangChain model error or a local model's refusal, else None."""
    for cls in type(exc).__mro__:
        package = cls.__module__
        if package.startswith("langchain_core"):
            kind = _LANGCHAIN_KINDS.get(cls.__name__)
        elif package.startswith("openmux.local"):
            kind = _LOCAL_REFUSALS.get(cls.__name__)
        else:
            continue
        if kind is not None:
            return kind
    return None


_OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE})


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from or during (cycles cut)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 16:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def local_cause(exc: BaseException) -> str | None:
    """Why `exc` is the caller's or this machine's error rather than the provider's, or None:
    a request no provider could take (`InvalidRequest`), text that cannot be encoded (a
    lone surrogate), an unknown keyword argument, a process out of file descriptors. Other
    TypeErrors and ValueErrors may come from parsing a provider's malformed answer (or,
    raised before sending, from one client's conversion: see routing's `_unsent`)."""
    if isinstance(exc, ProviderFailure):
        return str(exc) if exc.kind == "local" else None
    if isinstance(exc, InvalidRequest):
        return str(exc)
    for cause in _causes(exc):
        if isinstance(cause, OSError) and cause.errno in _OUT_OF_DESCRIPTORS:
            return (
                "this process ran out of file descriptors (too many open files); "
                "close unused clients or event loops, or raise the limit (ulimit -n)"
            )
    if isinstance(exc, UnicodeEncodeError):
        return f"the request text cannot be encoded ({exc.reason} at position {exc.start})"
    if isinstance(exc, TypeError) and "unexpected keyword argument" in str(exc):
        return f"an argument the model does not take: {exc}"
    return None


def failure_from_exception(exc: BaseException) -> ProviderFailure:
    """Map any client exception (openai, httpx, ollama, langchain) to a failure.

    Errors of the caller or of this machine (see `local_cause`) get kind `local`.
    """
    if isinstance(exc, ProviderFailure):
        return exc
    local = local_cause(exc)
    if local is not None:
        return ProviderFailure("local", local)
    if _raised_by(exc, "openai"):
        return _from_openai(exc)
    if any(_raised_by(exc, name) for name in _HTTP_CLIENTS):
        return _from_httpx(exc)
    if _raised_by(exc, "ollama"):
        status = getattr(exc, "status_code", None)
        message = str(getattr(exc, "error", exc))
        if status is None or status < 0:
            return ProviderFailure("bad_response", message)
        return ProviderFailure(kind_for_status(status, message), message, status=status)
    kind = _kind_by_class(exc)
    if kind is not None:
        return ProviderFailure(kind, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, TimeoutError):
        return ProviderFailure("timeout", str(exc) or "timed out")
    if isinstance(exc, ConnectionError):
        return ProviderFailure("connection", str(exc) or type(exc).__name__)
    if isinstance(exc, ValueError) and exc.args and isinstance(exc.args[0], Mapping):
        # langchain-openai raises ValueError(error) for a 200 body holding an error object.
        return failure_from_error_object(exc.args[0])
    if isinstance(exc, json.JSONDecodeError):
        return ProviderFailure("bad_response", f"body is not JSON: {exc}")
    return ProviderFailure("bad_response", f"{type(exc).__name__}: {exc}")


_HTTP_CLIENTS = ("httpx", "httpcore", "httpx2", "httpcore2")

MALFORMED_ANSWER = "MalformedAnswer"
"""The name of the transports' protocol error for an answer whose framing broke after its
status line (see `_first_token.malformed_answer`): the provider answered, with garbage."""


def _from_httpx(exc: BaseException) -> ProviderFailure:
    # By class name: httpx and its API-identical fork httpx2 (the OpenAI SDK 3's) alike.
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "TimeoutException" in names:
        return ProviderFailure(
            "timeout", f"{type(exc).__name__}: {exc}" if str(exc) else "timed out"
        )
    if "DecodingError" in names:  # a body its Content-Encoding does not describe
        return ProviderFailure("bad_response", f"the answer does not decompress: {exc}")
    if MALFORMED_ANSWER in names:  # not a connection to try again: it spent a request
        return ProviderFailure("bad_response", str(exc))
    response = getattr(exc, "response", None) if "HTTPStatusError" in names else None
    if response is not None:
        status = response.status_code
        return ProviderFailure(
            kind_for_status(status, response.text[:300]),
            f"HTTP {status}",
            status=status,
            retry_after=retry_after_seconds(response.headers),
        )
    return ProviderFailure("connection", f"{type(exc).__name__}: {exc}")


def _from_openai(exc: BaseException) -> ProviderFailure:
    import openai

    if isinstance(exc, openai.APIConnectionError):  # a timeout too (APITimeoutError)
        # The HTTP client's own error, under the SDK's (and langchain-openai's around it):
        # it says which deadline passed.
        for cause in _causes(exc)[1:]:
            if type(cause).__module__.split(".")[0] in _HTTP_CLIENTS:
                return _from_httpx(cause)
        if isinstance(exc, openai.APITimeoutError):
            return ProviderFailure("timeout", "the provider did not answer in time")
        return ProviderFailure("connection", str(exc))
    if isinstance(exc, openai.APIStatusError):
        return _status_failure(
            exc.status_code, _openai_message(exc), exc.response.headers, exc.body
        )
    if isinstance(exc, openai.APIError):
        # Raised for an error event inside an SSE stream.
        body = exc.body if isinstance(exc.body, Mapping) else None
        if body is not None:
            return failure_from_error_object(body.get("error", body))
        return ProviderFailure("bad_response", str(exc))
    return ProviderFailure("bad_response", f"{type(exc).__name__}: {exc}")


def _status_failure(
    status: int, message: str, headers: Mapping[str, str], body: Any
) -> ProviderFailure:
    return ProviderFailure(
        kind_for_status(status, message),
        f"HTTP {status}: {message}",
        status=status,
        retry_after=retry_after_seconds(headers),
        detail=body if status == 429 else None,
    )


def failure_from_status(status: int, headers: Mapping[str, str], content: bytes) -> ProviderFailure:
    """An OpenAI-protocol error response read without the SDK (see `_wire`)."""
    try:
        body: Any = json.loads(content)
    except ValueError:
        body = None
    error = body.get("error", body) if isinstance(body, Mapping) else None
    if isinstance(error, Mapping) and error.get("message"):
        message = str(error["message"])
    else:
        message = content[:300].decode("utf-8", "replace")
    # As the OpenAI SDK's errors carry it: the `error` object, else the whole body.
    return _status_failure(status, message, headers, error if error is not None else body)


def _openai_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping) and error.get("message"):
            return str(error["message"])
    return str(getattr(exc, "message", exc))
