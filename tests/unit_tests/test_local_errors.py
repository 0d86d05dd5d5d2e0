"""Telling the caller's (or this machine's) errors from a provider's failures."""

from __future__ import annotations

import errno
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from openmux import ChatOpenMux
from openmux.errors import OpenMuxError
from openmux.health import health_store
from openmux.health._policy import REACTIONS
from openmux.local import (
    LocalContextLengthError,
    LocalGenerationTimeout,
    LocalToolsUnsupported,
)
from openmux.providers import failure_from_exception, local_cause
from openmux.testing import FakeProviderServer
from tests.helpers import provider_toml


def raised(action: object) -> BaseException:
    try:
        action()  # type: ignore[operator]
    except BaseException as exc:
        return exc
    raise AssertionError("nothing raised")


def _takes_nothing() -> None:
    """Stands for a client call given a keyword it does not know."""


class _Shape(BaseModel):
    count: int


def _connect_error(code: int) -> httpx.ConnectError:
    error = httpx.ConnectError(f"[Errno {code}] could not connect")
    error.__cause__ = OSError(code, "Too many open files")
    return error


def test_local_errors_are_named() -> None:
    surrogate = raised(lambda: "caf\udce9".encode())
    keyword = raised(lambda: _takes_nothing(bogus=1))
    exhausted = _connect_error(errno.EMFILE)
    for exc in (surrogate, keyword, exhausted):
        assert local_cause(exc) is not None, exc
        assert failure_from_exception(exc).kind == "local"
    assert "file descriptors" in (local_cause(exhausted) or "")
    assert "cannot be encoded" in (local_cause(surrogate) or "")


def test_provider_failures_stay_provider_failures() -> None:
    refused = httpx.ConnectError("connection refused")
    malformed = raised(lambda: _Shape.model_validate({"count": "many"}))
    assert isinstance(malformed, ValidationError)
    odd_type = TypeError("'NoneType' object is not subscriptable")  # a malformed answer
    for exc in (refused, malformed, odd_type):
        assert local_cause(exc) is None, exc
        assert failure_from_exception(exc).kind != "local"


def test_a_local_failure_benches_nothing() -> None:
    assert REACTIONS["local"].bench == "none"
    assert not REACTIONS["local"].skip_provider and not REACTIONS["local"].disable_provider


@pytest.mark.parametrize(
    ("text", "extra"),
    [("a lone surrogate \udce9 here", {}), ("hello", {"bogus_keyword": 1})],
    ids=["lone surrogate", "unknown keyword"],
)
def test_bad_requests_never_bench_a_healthy_provider(
    clean_environment: Path,
    fake_provider_server: FakeProviderServer,
    text: str,
    extra: dict[str, object],
) -> None:
    provider = fake_provider_server.add_provider("fake", models=["fake-model"], reply="pong")
    (clean_environment / "openmux.toml").write_text(provider_toml(provider), encoding="utf-8")
    llm = ChatOpenMux()
    for _ in range(4):
        with pytest.raises((OpenMuxError, TypeError, UnicodeError)):
            llm.invoke(text, task="chat", **extra)
    assert health_store(llm.settings.state_dir).benches() == []
    assert llm.invoke("hello", task="chat").text == "pong"


@pytest.mark.parametrize(
    ("refusal", "kind"),
    [
        (LocalToolsUnsupported("m", "a 'web_search' tool"), "http_4xx"),
        (LocalContextLengthError(9000, 8192), "context_length"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else value,
)
def test_what_the_local_model_cannot_take_benches_nothing(refusal: Exception, kind: str) -> None:
    failure = failure_from_exception(refusal)
    assert failure.kind == kind
    assert REACTIONS[kind].bench == "none"


def test_a_local_timeout_still_counts() -> None:
    assert failure_from_exception(LocalGenerationTimeout("passed its timeout")).kind == "timeout"
