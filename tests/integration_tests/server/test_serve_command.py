"""`openmux serve` as a real process, the refuse-to-start rule, and keys kept out of sight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from openmux.errors import ConfigError
from openmux.server._security import check_bind, is_loopback
from openmux.testing import FakeProviderServer, Fault
from tests.helpers import default_signals, provider_toml, run_cli
from tests.integration_tests.server.conftest import (
    ALPHA_REPLY,
    FAKE_PROVIDERS,
    SERVER_KEY,
    StartServer,
    fake_config,
    free_port,
)

PROVIDERS = FAKE_PROVIDERS


def test_refuses_a_public_address_without_server_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENMUX_SERVER_KEYS", raising=False)
    result = run_cli("serve", "--host", "0.0.0.0", "--port", str(free_port()), timeout=60)
    assert result.returncode == 1  # the configuration lacks the keys; 2 is a usage error
    assert "refusing to listen on 0.0.0.0" in result.stderr
    assert "OPENMUX_SERVER_KEYS" in result.stderr
    assert "Traceback" not in result.stderr


def test_bind_rule() -> None:
    for host in (
        "127.0.0.1",
        "127.0.0.2",
        "127.1",
        "::1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "localhost",
        "localhost.",
    ):
        assert is_loopback(host)
        check_bind(host, ())
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.org"):
        assert not is_loopback(host)
        with pytest.raises(ConfigError, match="refusing"):
            check_bind(host, ())
        check_bind(host, (b"a-long-enough-server-key",))


def test_short_server_keys_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENMUX_SERVER_KEYS", "short")
    result = run_cli("serve", "--port", str(free_port()), timeout=60)
    assert result.returncode == 1
    assert "shorter than 16 characters" in result.stderr
    assert "short" not in result.stderr.replace("shorter", "")


def test_server_keys_no_client_could_send_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # An HTTP header carries ASCII: a client can never present an accented key.
    monkeypatch.setenv("OPENMUX_SERVER_KEYS", "a-long-enough-key-1,clé-très-longue-CANARY")
    result = run_cli("serve", "--port", str(free_port()), timeout=60)
    assert result.returncode == 1
    assert "OPENMUX_SERVER_KEYS" in result.stderr and "ASCII" in result.stderr
    assert "CANARY" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [(["--port", "99999"], "--port"), (["--port", "-1"], "--port"),
     (["--max-request-mb", "-1"], "--max-request-mb"),
     (["--max-request-mb", "0"], "--max-request-mb"),
     (["--max-request-mb", "nan"], "--max-request-mb"),
     (["--max-request-mb", "inf"], "--max-request-mb"),
     (["--log-level", "loud"], "--log-level")],
)  # fmt: skip
def test_options_out_of_range_are_usage_errors(args: list[str], named: str) -> None:
    # A free port first: should an option be taken after all, nothing else is disturbed.
    result = run_cli("serve", "--port", str(free_port()), *args, timeout=60)
    assert result.returncode == 2
    assert named in result.stderr and "Traceback" not in result.stderr


@contextmanager
def serve_process(
    server: FakeProviderServer, tmp_path: Path, *args: str
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    config = tmp_path / "openmux.toml"
    config.write_text(provider_toml(server.providers["alpha"], server.providers["beta"]))
    port = free_port()
    env = {**os.environ, "OPENMUX_CONFIG": str(config)}
    env.pop("OPENMUX_SERVER_KEYS", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "openmux.cli", "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_signals,  # stopped with SIGINT below, also in a background run
    )
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(root + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"openmux serve did not start: {process.communicate()[1]}")
            time.sleep(0.1)
        yield root, process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_serve_as_a_process(server: FakeProviderServer, tmp_path: Path) -> None:
    with serve_process(server, tmp_path) as (root, process):
        api = OpenAI(base_url=root + "/v1", api_key="unused", max_retries=0)
        raw = api.chat.completions.with_raw_response.create(
            model="alpha:shared", messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.parse().choices[0].message.content == ALPHA_REPLY
        assert raw.headers["x-openmux-provider"] == "alpha"
        # Three distinct models can answer: a fan-out over five says so in a header and
        # in one log line.
        short = api.chat.completions.with_raw_response.create(
            model="openmux/auto",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"openmux": {"fanout": 5}},
        )
        assert short.headers["x-openmux-fanout"] == "3/5"
    assert process.returncode == 0
    log = process.stderr.read() if process.stderr else ""
    assert "Traceback" not in log
    shortfall = [line for line in log.splitlines() if "fanout=5 asked for 5 models" in line]
    assert len(shortfall) == 1, log
    assert "UserWarning" not in log and ".py:" not in log, log


@pytest.mark.slow
def test_workers_share_one_metrics_view(server: FakeProviderServer, tmp_path: Path) -> None:
    with serve_process(server, tmp_path, "--workers", "2") as (root, _):
        api = OpenAI(base_url=root + "/v1", api_key="unused", max_retries=0)
        for _ in range(6):
            api.chat.completions.create(
                model="beta:shared",
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={"connection": "close"},  # spread over both workers
            )
        text = httpx.get(root + "/metrics").text
    assert 'openmux_requests_total{code="200",endpoint="/v1/chat/completions"} 6.0' in text


def test_provider_keys_never_leave_the_server(
    start_server: StartServer, server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-alpha-secret-0123456789abcdef"
    monkeypatch.setenv("ALPHA_TEST_KEY", key)
    config = fake_config(server)
    config["providers"]["alpha"]["api_key_env"] = "ALPHA_TEST_KEY"
    server.providers["alpha"].fault = Fault.error_body(401, f"invalid key {key}")
    server.providers["beta"].fault = Fault.status(500, message=f"upstream saw {key}")
    base_url = start_server(config)
    api = OpenAI(base_url=base_url, api_key="unused", max_retries=0)
    with pytest.raises(openai.APIStatusError) as failed:
        api.chat.completions.create(
            model="openmux/auto", messages=[{"role": "user", "content": "hi"}]
        )
    assert server.providers["alpha"].requests[-1].headers["authorization"] == f"Bearer {key}"
    response = failed.value.response
    assert key not in response.text
    assert all(key not in value for value in response.headers.values())
    root = base_url.removesuffix("/v1")
    assert key not in httpx.get(root + "/metrics").text
    assert key not in httpx.get(base_url + "/models").text


def test_cors_is_off_unless_an_origin_is_allowed(start_server: StartServer) -> None:
    preflight = {
        "origin": "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
    }
    closed = httpx.options(start_server() + "/chat/completions", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    opened = httpx.options(
        start_server(cors_origins=("https://app.example",)) + "/chat/completions",
        headers=preflight,
    )
    assert opened.headers["access-control-allow-origin"] == "https://app.example"


def test_a_page_of_another_origin_cannot_use_the_server(
    start_server: StartServer, server: FakeProviderServer
) -> None:
    """With CORS off a browser page cannot read an answer, but it can still send a
    'simple' request (a text/plain POST needs no preflight): on loopback without server
    keys, any web page the user opens could spend the providers' quotas through it."""
    body = b'{"model": "openmux/auto", "messages": [{"role": "user", "content": "hi"}]}'
    simple = {"content-type": "text/plain", "origin": "https://page.example"}
    refused = httpx.post(start_server() + "/chat/completions", content=body, headers=simple)
    assert refused.status_code == 403
    assert "--cors-origin https://page.example" in refused.json()["error"]["message"]
    assert sum(provider.hits for provider in server.providers.values()) == 0
    # Clients that are not browsers send no Origin; an allowed origin is let through.
    plain = httpx.post(start_server() + "/chat/completions", content=body)
    assert plain.status_code == 200
    opened = start_server(cors_origins=("https://page.example",))
    assert httpx.post(opened + "/chat/completions", content=body, headers=simple).status_code == 200


def test_without_server_keys_it_answers_only_to_this_machines_names(
    start_server: StartServer, server: FakeProviderServer
) -> None:
    """DNS rebinding: a page whose name an attacker points at 127.0.0.1 is same-origin
    with the server, so it sends no Origin on a GET and can read `/v1/models` and
    `/metrics` (which providers have keys, their quota headroom). Its requests still
    name the attacker's host. A server with no keys answers only to loopback names."""
    base_url = start_server()
    port = base_url.split(":")[2].split("/")[0]
    root = base_url.removesuffix("/v1")
    for url in (base_url + "/models", root + "/metrics"):
        refused = httpx.get(url, headers={"host": f"rebound.example:{port}"})
        assert refused.status_code == 403, url
        assert "OPENMUX_SERVER_KEYS" in refused.json()["error"]["message"]
    body = {"model": "openmux/auto", "messages": [{"role": "user", "content": "hi"}]}
    posted = httpx.post(
        base_url + "/chat/completions", json=body, headers={"host": f"rebound.example:{port}"}
    )
    assert posted.status_code == 403
    assert sum(provider.hits for provider in server.providers.values()) == 0
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost"):
        assert httpx.get(base_url + "/models", headers={"host": host}).status_code == 200, host
    assert httpx.get(root + "/health", headers={"host": "rebound.example"}).status_code == 200
    # With server keys, a key is what admits a request, whatever name it was sent to.
    keyed = start_server(keys=(SERVER_KEY.encode(),))
    headers = {"host": "api.example", "authorization": f"Bearer {SERVER_KEY}"}
    assert httpx.get(keyed + "/models", headers=headers).status_code == 200
