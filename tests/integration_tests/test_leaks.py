"""A distinctive key must never show up in output, logs, metadata, reprs or exceptions.

Every way the fake provider can fail is tried with a canary key configured; all
the text OpenMux produces is then searched for it. The only place the key may
appear is the Authorization header of the requests the fake server received.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openmux import ChatOpenMux
from openmux.errors import OpenMuxError
from openmux.testing import FakeProvider, FakeProviderServer, Fault
from tests.helpers import run_cli

CANARY = "sk-or-v1-LEAKCANARY7f3a9c1e5b2d8f4a6c0e9b1d3f5a7c9e"
MARKER = "LEAKCANARY"  # masks show at most the first and last four characters
MODEL = "meta-llama/llama-3.3-70b-instruct:free"

FAULTS: dict[str, Callable[[], Fault]] = {
    "http_401": lambda: Fault.status(401),
    "http_401_echoing_key": lambda: Fault.status(401, message=f"Invalid API key: {CANARY}"),
    "http_429": lambda: Fault.status(429, retry_after=3),
    "http_500": lambda: Fault.status(500, message=f"upstream said Bearer {CANARY}"),
    "error_body": lambda: Fault.error_body(code=429, message="Rate limit exceeded"),
    "error_body_echoing_key": lambda: Fault.error_body(code=401, message=f"bad key {CANARY}"),
    "garbage": lambda: Fault.garbage(),
    "garbage_echoing_key": lambda: Fault.garbage(f"<html>Authorization: Bearer {CANARY}</html>"),
    "hang": lambda: Fault.hang(),
    "mid_stream_error": lambda: Fault.mid_stream_error(after_chunks=2),
    "disconnect": lambda: Fault.disconnect(),
}


PROVIDERS = {
    "openrouter": dict(models=[MODEL], reply="a canary-free answer here"),
}


@pytest.fixture
def provider(server: FakeProviderServer) -> FakeProvider:
    return server.providers["openrouter"]


@pytest.fixture
def configured(
    provider: FakeProvider, clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    (clean_environment / "openmux.toml").write_text(
        "[router]\n"
        'providers = ["openrouter"]\n'
        "[timeouts]\n"
        "first_token = 0.5\n"
        "total = 2\n"
        "[providers.openrouter]\n"
        f'base_url = "{provider.openrouter_base_url}"\n'
        f'models = ["{MODEL}"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("OPENROUTER_API_KEY", CANARY)
    return clean_environment


def _assert_clean(label: str, *texts: str) -> None:
    for text in texts:
        assert MARKER not in text, f"{label}: the key leaked into:\n{text[:2000]}"


def _exception_texts(exc: BaseException) -> list[str]:
    texts = ["".join(traceback.format_exception(exc)), str(exc), repr(exc)]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(getattr(current, "__dict__", ""))]
        current = current.__cause__ or current.__context__
    attempts = getattr(exc, "attempts", None)
    if attempts is not None:
        texts.append(json.dumps(attempts, default=str))
    return texts


def _assert_key_only_in_authorization(provider: FakeProvider) -> None:
    requests = provider.requests
    assert requests, "the fake provider received nothing"
    for request in requests:
        for name, value in request.headers.items():
            if name == "authorization":
                assert value == f"Bearer {CANARY}"
            else:
                assert MARKER not in value, f"key in header {name}"
        assert MARKER.encode() not in request.body
        assert MARKER not in request.path + request.query


@pytest.mark.parametrize("fault_name", list(FAULTS))
@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_failing_requests_never_show_the_key(
    configured: Path,
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    fault_name: str,
    mode: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    provider.fault = FAULTS[fault_name]()
    llm = ChatOpenMux()
    texts: list[str] = [repr(llm), str(llm), repr(llm.settings), llm.model_dump_json()]
    try:
        if mode == "invoke":
            message = llm.invoke("hello there")
            texts += [message.model_dump_json(), json.dumps(message.response_metadata)]
        else:
            chunks = list(llm.stream("hello there"))
            texts += [c.model_dump_json() for c in chunks]
    except OpenMuxError as exc:
        texts += _exception_texts(exc)
    captured = capsys.readouterr()
    texts += [captured.out, captured.err, caplog.text]
    texts += [repr(r.__dict__) for r in caplog.records]
    _assert_clean(f"{mode}/{fault_name}", *texts)
    _assert_key_only_in_authorization(provider)


def test_successful_request_metadata_and_reprs(
    configured: Path, provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    llm = ChatOpenMux()
    message = llm.invoke("hello there")
    assert message.response_metadata["openmux"]["provider"] == "openrouter"
    openrouter = llm.settings.providers["openrouter"]
    assert openrouter.api_key is not None
    assert openrouter.api_key.get_secret_value() == CANARY
    _assert_clean(
        "success",
        message.model_dump_json(),
        repr(llm),
        repr(llm.settings),
        repr(openrouter),
        str(llm.settings.sources),
        caplog.text,
    )
    _assert_key_only_in_authorization(provider)


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENMUX_LOG_LEVEL": "DEBUG", "TERM": "dumb", "COLUMNS": "200"}
    return run_cli(*args, stdin=stdin, env=env, timeout=120)


@pytest.mark.parametrize(
    ("args", "fault"),
    [
        (("chat", "-v", "hello"), None),
        (("chat", "-v", "hello"), "http_401_echoing_key"),
        (("chat", "--json", "hello"), None),
        (("chat", "--json", "hello"), "http_500"),
        (("chat", "--json", "hello"), "garbage_echoing_key"),
        (("config", "show"), None),
        (("config", "show", "--all"), None),
        (("config", "show", "--json"), None),
        (("config", "validate"), None),
        (("keys", "list"), None),
        (("keys", "list", "--json"), None),
    ],
)
def test_cli_output_never_shows_the_key(
    configured: Path, provider: FakeProvider, args: tuple[str, ...], fault: str | None
) -> None:
    provider.fault = FAULTS[fault]() if fault else None
    result = _cli(*args)
    _assert_clean(" ".join(args), result.stdout, result.stderr)
    if fault is None:
        assert result.returncode == 0, result.stderr
    if args[0] == "chat":
        _assert_key_only_in_authorization(provider)


def test_cli_shows_the_key_masked_and_its_source(configured: Path) -> None:
    result = _cli("keys", "list", "--json")
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    openrouter = next(r for r in rows if r["provider"] == "openrouter")
    assert openrouter["key"] == f"{CANARY[:4]}…{CANARY[-4:]}"
    assert openrouter["source"] == "environment (OPENROUTER_API_KEY)"
    shown = json.loads(_cli("config", "show", "--json").stdout)
    key_row = shown["settings"]["providers.openrouter.api_key"]
    assert key_row == {"value": f"{CANARY[:4]}…{CANARY[-4:]}", "source": key_row["source"]}
    assert key_row["source"].startswith("environment")


# ------------------------------------------------------------------ URL credentials, headers

URL_CANARY = "URLCANARY5d1e9a7c3b"
HEADER_CANARY = "HDRCANARY8b2f6d4a0e"
PROXY_MARKERS = ("URLCANARY", "HDRCANARY")


@pytest.fixture
def proxied(provider: FakeProvider, clean_environment: Path) -> Path:
    """A provider reached through a URL with a password in it and a secret header."""
    base_url = provider.base_url.replace("http://", f"http://proxyuser:{URL_CANARY}@", 1)
    (clean_environment / "openmux.toml").write_text(
        "[router]\n"
        'providers = ["proxy"]\n'
        "[timeouts]\n"
        "first_token = 0.5\n"
        "total = 2\n"
        "[providers.proxy]\n"
        'protocol = "openai"\n'
        f'base_url = "{base_url}"\n'
        f'headers = {{ X-Proxy-Token = "{HEADER_CANARY}" }}\n'
        f'models = ["{MODEL}"]\n',
        encoding="utf-8",
    )
    return clean_environment


def _assert_no_proxy_secret(label: str, *texts: str) -> None:
    for text in texts:
        for marker in PROXY_MARKERS:
            assert marker not in text, f"{label}: {marker} leaked into:\n{text[:2000]}"


@pytest.mark.parametrize("fault_name", ["http_500", "garbage", "disconnect", None])
@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_url_credentials_and_headers_never_show(
    proxied: Path,
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    fault_name: str | None,
    mode: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    provider.fault = FAULTS[fault_name]() if fault_name else None
    llm = ChatOpenMux()
    proxy = llm.settings.providers["proxy"]
    texts = [repr(llm), str(llm), repr(llm.settings), repr(vars(llm)), llm.model_dump_json()]
    texts += [repr(proxy), repr(proxy.headers)]
    try:
        if mode == "invoke":
            message = llm.invoke("hello there")
            texts += [message.model_dump_json(), json.dumps(message.response_metadata)]
        else:
            texts += [c.model_dump_json() for c in llm.stream("hello there")]
    except OpenMuxError as exc:
        texts += _exception_texts(exc)
    captured = capsys.readouterr()
    texts += [captured.out, captured.err, caplog.text]
    texts += [repr(r.__dict__) for r in caplog.records]
    _assert_no_proxy_secret(f"{mode}/{fault_name}", *texts)
    # The header still reaches the provider: held as a secret, not dropped.
    assert any(r.headers.get("x-proxy-token") == HEADER_CANARY for r in provider.requests)


@pytest.mark.parametrize(
    "args",
    [
        ("chat", "-v", "hello"),
        ("chat", "--json", "hello"),
        ("config", "show", "--all"),
        ("config", "show", "--json"),
        ("config", "validate"),
        ("doctor",),
        ("doctor", "--json"),
    ],
)
def test_cli_never_shows_url_credentials_or_headers(
    proxied: Path, provider: FakeProvider, args: tuple[str, ...]
) -> None:
    result = _cli(*args)
    _assert_no_proxy_secret(" ".join(args), result.stdout, result.stderr)
