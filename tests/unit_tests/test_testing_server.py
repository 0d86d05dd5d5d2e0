"""FakeProviderServer over real loopback HTTP: wire formats, faults, counters, lifecycle.

Uses the `fake_provider_server` fixture of openmux.testing.pytest_plugin (declared in conftest).

No timed assertions: waits are bounded loops or generous joins.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from openmux.testing import FakeProvider, FakeProviderServer, Fault
from tests.helpers import default_signals

_CHAT = {"model": "m-1", "messages": [{"role": "user", "content": "Hello there"}]}


@pytest.fixture
def server(fake_provider_server: FakeProviderServer) -> FakeProviderServer:
    fake_provider_server.add_provider(
        "good", models=["m-1", "m-2", "m-3:free"], embedding_models=["e-1"], reply="Hello from good"
    )
    return fake_provider_server


@pytest.fixture
def good(server: FakeProviderServer) -> FakeProvider:
    return server.providers["good"]


@pytest.fixture
def client(good: FakeProvider) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=good.base_url, api_key="sk-test", max_retries=0) as c:
        yield c


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as c:
        yield c


def _sse_events(text: str) -> list[str]:
    """Data payloads and comments of an SSE body, in order."""
    events = []
    for block in text.split("\n\n"):
        line = block.strip()
        if line:
            events.append(line)
    return events


# ----------------------------------------------------------------- basics
def test_urls(server: FakeProviderServer, good: FakeProvider) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert good.base_url == f"{server.url}/good/v1"
    assert good.openrouter_base_url == f"{server.url}/good/api/v1"
    assert good.ollama_base_url == f"{server.url}/good"
    assert server.providers["good"] is good


def test_url_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        _ = FakeProviderServer().url


def test_chat_completion_json(client: openai.OpenAI, good: FakeProvider) -> None:
    completion = client.chat.completions.create(
        model="m-2", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.object == "chat.completion"
    assert completion.model == "m-2"
    assert completion.choices[0].message.content == "Hello from good"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    assert completion.id.startswith("chatcmpl-")


def test_headers(http: httpx.Client, good: FakeProvider) -> None:
    response = http.post(f"{good.base_url}/chat/completions", json=_CHAT)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"].startswith("req_")
    stream = http.post(f"{good.base_url}/chat/completions", json={**_CHAT, "stream": True})
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.headers["transfer-encoding"] == "chunked"


def test_stream_with_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="m-1",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from good"
    assert chunks[0].choices[0].delta.role == "assistant"
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish[-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_without_usage_ends_with_done(http: httpx.Client, good: FakeProvider) -> None:
    response = http.post(f"{good.base_url}/chat/completions", json={**_CHAT, "stream": True})
    events = _sse_events(response.text)
    assert events[-1] == "data: [DONE]"
    assert all("usage" not in json.loads(e[6:]) for e in events[:-1])


def test_streamed_tool_call(client: openai.OpenAI) -> None:
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "add",
                "parameters": {
                    "type": "object",
                    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                    "required": ["a", "b"],
                },
            },
        }
    ]
    chunks = list(
        client.chat.completions.create(
            model="m-1",
            messages=[{"role": "user", "content": "add 12 and 30"}],
            tools=tools,
            stream=True,
        )
    )
    deltas = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert deltas[0].id is not None and deltas[0].id.startswith("call_")
    assert deltas[0].function is not None and deltas[0].function.name == "add"
    assert all(d.index == 0 for d in deltas)
    assert len(deltas) > 2  # arguments arrive in fragments
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert json.loads(arguments) == {"a": 12, "b": 30}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_structured_output_json_schema(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    completion = client.chat.completions.create(
        model="m-1",
        messages=[{"role": "user", "content": "The city 'Lyon' has 522250 people."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "city", "schema": schema, "strict": True},
        },
    )
    content = completion.choices[0].message.content
    assert content is not None
    assert json.loads(content) == {"city": "Lyon", "population": 522250}


def test_models_listing(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == ["m-1", "m-2", "m-3:free", "e-1"]
    assert client.models.retrieve("m-2").id == "m-2"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_embeddings_float_and_base64(client: openai.OpenAI, http: httpx.Client) -> None:
    # The openai SDK asks for base64 by default and decodes it.
    result = client.embeddings.create(model="e-1", input=["foo", "bar"])
    assert [d.index for d in result.data] == [0, 1]
    assert len(result.data[0].embedding) == 16
    again = client.embeddings.create(model="e-1", input="foo")
    assert again.data[0].embedding == pytest.approx(result.data[0].embedding, abs=1e-6)
    assert result.usage.prompt_tokens > 0
    raw = http.post(
        f"{client.base_url}embeddings",
        json={"model": "e-1", "input": [[1, 2, 3]], "encoding_format": "base64"},
    ).json()
    vector = struct.unpack("<16f", base64.b64decode(raw["data"][0]["embedding"]))
    assert len(vector) == 16
    floats = http.post(f"{client.base_url}embeddings", json={"model": "e-1", "input": "foo"}).json()
    assert floats["data"][0]["embedding"] == pytest.approx(result.data[0].embedding, abs=1e-6)
    other = client.embeddings.create(model="e-2", input="foo")
    assert other.data[0].embedding != pytest.approx(result.data[0].embedding, abs=1e-6)


# ------------------------------------------------------------- OpenRouter
def test_openrouter_catalog(http: httpx.Client, server: FakeProviderServer) -> None:
    p = server.add_provider(
        "or",
        models=["vendor/a:free", "vendor/b"],
        model_info={"vendor/b": {"context_length": 8192, "pricing": {"prompt": "0.5"}}},
    )
    data = http.get(f"{p.openrouter_base_url}/models").json()["data"]
    free, paid = data
    assert free["id"] == "vendor/a:free"
    assert free["pricing"]["prompt"] == "0" and free["pricing"]["completion"] == "0"
    assert paid["pricing"]["prompt"] == "0.5" and float(paid["pricing"]["completion"]) > 0
    assert paid["context_length"] == 8192
    assert free["context_length"] > 0
    assert "tools" in free["supported_parameters"]
    assert "response_format" in free["supported_parameters"]
    assert free["architecture"]["input_modalities"] == ["text", "image"]
    assert free["architecture"]["output_modalities"] == ["text"]


def test_openrouter_key_and_chat(http: httpx.Client, server: FakeProviderServer) -> None:
    p = server.add_provider("or", models=["x/y:free"], key_info={"limit": 10, "usage": 1.5})
    key = http.get(f"{p.openrouter_base_url}/key").json()["data"]
    assert key["limit"] == 10 and key["usage"] == 1.5
    assert key["is_free_tier"] is True
    assert key["rate_limit"] == {"requests": 20, "interval": "10s"}
    body = http.post(f"{p.openrouter_base_url}/chat/completions", json=_CHAT).json()
    assert body["id"].startswith("gen-")
    assert body["provider"] == "or"
    assert body["choices"][0]["native_finish_reason"] == "stop"


# ---------------------------------------------------------------- faults
def test_status_fault_with_retry_after(client: openai.OpenAI, good: FakeProvider) -> None:
    good.fault = Fault.status(429, retry_after=2, headers={"X-RateLimit-Reset": "1700000000000"})
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="m-1", messages=[{"role": "user", "content": "x"}])
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.response.headers["x-ratelimit-reset"] == "1700000000000"
    assert info.value.code == "rate_limit_exceeded"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (404, openai.NotFoundError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_status_fault_maps_to_sdk_errors(
    client: openai.OpenAI, good: FakeProvider, status: int, error: type[Exception]
) -> None:
    good.fault = Fault.status(status, message="boom")
    with pytest.raises(error) as info:
        client.chat.completions.create(model="m-1", messages=[{"role": "user", "content": "x"}])
    assert "boom" in str(info.value)


def test_status_fault_openrouter_and_ollama_bodies(http: httpx.Client, good: FakeProvider) -> None:
    good.fault = Fault.status(402)
    body = http.post(f"{good.openrouter_base_url}/chat/completions", json=_CHAT).json()
    assert body["error"]["code"] == 402 and "credits" in body["error"]["message"]
    ollama = http.post(f"{good.ollama_base_url}/api/chat", json=_CHAT)
    assert ollama.status_code == 402 and isinstance(ollama.json()["error"], str)


def test_error_body_fault(http: httpx.Client, good: FakeProvider) -> None:
    good.fault = Fault.error_body(code=429, message="Rate limit exceeded")
    response = http.post(f"{good.openrouter_base_url}/chat/completions", json=_CHAT)
    assert response.status_code == 200
    assert response.json() == {"error": {"code": 429, "message": "Rate limit exceeded"}}


def test_garbage_fault(http: httpx.Client, good: FakeProvider) -> None:
    good.fault = Fault.garbage()
    response = http.post(f"{good.base_url}/chat/completions", json=_CHAT)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_hang_fault_times_out_client(good: FakeProvider) -> None:
    good.fault = Fault.hang()
    with (
        openai.OpenAI(base_url=good.base_url, api_key="k", max_retries=0, timeout=0.3) as c,
        pytest.raises(openai.APITimeoutError),
    ):
        c.chat.completions.create(model="m-1", messages=[{"role": "user", "content": "x"}])
    assert good.hits == 1


def test_disconnect_fault(http: httpx.Client, good: FakeProvider) -> None:
    good.fault = Fault.disconnect()
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(f"{good.base_url}/chat/completions", json=_CHAT)


def test_loading_fault_is_llama_cpp_503(http: httpx.Client, good: FakeProvider) -> None:
    good.fault = Fault.loading()
    expected = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
    response = http.post(f"{good.base_url}/chat/completions", json=_CHAT)
    assert (response.status_code, response.json()) == (503, expected)
    health = http.get(f"{good.url}/health")
    assert (health.status_code, health.json()) == (503, expected)
    good.fault = None
    assert http.get(f"{good.url}/health").json() == {"status": "ok"}


def test_mid_stream_error_raises_in_sdk(client: openai.OpenAI, good: FakeProvider) -> None:
    good.reply = "one two three four five six"
    good.fault = Fault.mid_stream_error(after_chunks=2)
    received: list[str] = []
    with pytest.raises(openai.APIError, match="Provider disconnected unexpectedly"):
        for chunk in client.chat.completions.create(
            model="m-1", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "one two"


def test_mid_stream_error_wire_format(http: httpx.Client, good: FakeProvider) -> None:
    good.reply = "one two three four"
    good.fault = Fault.mid_stream_error(after_chunks=1)
    url = f"{good.openrouter_base_url}/chat/completions"
    events = _sse_events(http.post(url, json={**_CHAT, "stream": True}).text)
    last = json.loads(events[-1].removeprefix("data: "))
    assert last["error"]["code"] == "server_error"
    assert last["choices"][0]["finish_reason"] == "error"
    assert "data: [DONE]" not in events
    # Non-streaming: HTTP 200, partial content and an in-body error.
    body = http.post(url, json=_CHAT).json()
    assert body["error"]["message"] == "Provider disconnected unexpectedly"
    assert body["choices"][0]["message"]["content"] == "one"
    assert body["choices"][0]["finish_reason"] == "error"


def test_slow_first_token_keepalive_comments(http: httpx.Client, good: FakeProvider) -> None:
    good.fault = Fault.slow_first_token(seconds=0.3, keepalive=True)
    url = f"{good.openrouter_base_url}/chat/completions"
    events = _sse_events(http.post(url, json={**_CHAT, "stream": True}).text)
    first_data = next(i for i, e in enumerate(events) if e.startswith("data:"))
    assert first_data >= 1
    assert set(events[:first_data]) == {": OPENROUTER PROCESSING"}
    assert events[-1] == "data: [DONE]"
    # Non-streaming: leading whitespace, then the JSON answer.
    response = http.post(url, json=_CHAT)
    assert response.text.startswith("\n")
    assert response.json()["choices"][0]["message"]["content"] == "Hello from good"


def test_slow_first_token_stream_works_in_sdk(client: openai.OpenAI, good: FakeProvider) -> None:
    good.fault = Fault.slow_first_token(seconds=0.2, keepalive=True)
    stream = client.chat.completions.create(
        model="m-1", messages=[{"role": "user", "content": "x"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "Hello from good"


def test_flaky_fault_rate(http: httpx.Client, good: FakeProvider) -> None:
    good.fault = Fault.flaky(rate=0.3, seed=1, fault=Fault.status(500))
    statuses = [
        http.post(f"{good.base_url}/chat/completions", json=_CHAT).status_code for _ in range(100)
    ]
    failures = statuses.count(500)
    assert statuses.count(200) + failures == 100
    assert 15 <= failures <= 45
    # Same seed, same sequence.
    good.fault = Fault.flaky(rate=0.3, seed=1, fault=Fault.status(500))
    again = [
        http.post(f"{good.base_url}/chat/completions", json=_CHAT).status_code for _ in range(100)
    ]
    assert again == statuses


def test_listings_stay_healthy_unless_on_listing(http: httpx.Client, good: FakeProvider) -> None:
    good.fault = Fault.status(500)
    assert http.get(f"{good.base_url}/models").status_code == 200
    assert http.get(f"{good.openrouter_base_url}/models").status_code == 200
    assert http.get(f"{good.ollama_base_url}/api/tags").status_code == 200
    good.fault = Fault.status(500, on_listing=True)
    assert http.get(f"{good.base_url}/models").status_code == 500
    assert http.get(f"{good.ollama_base_url}/api/tags").status_code == 500


def test_latency_still_answers(http: httpx.Client, good: FakeProvider) -> None:
    good.latency = 0.05
    assert http.post(f"{good.base_url}/chat/completions", json=_CHAT).status_code == 200


def test_strict_models(http: httpx.Client, server: FakeProviderServer) -> None:
    p = server.add_provider("strict", models=["m-1"], strict_models=True)
    bad = {**_CHAT, "model": "other"}
    response = http.post(f"{p.base_url}/chat/completions", json=bad)
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"
    assert http.post(f"{p.ollama_base_url}/api/chat", json=bad).status_code == 404
    assert http.post(f"{p.base_url}/chat/completions", json=_CHAT).status_code == 200


# -------------------------------------------------------------- counters
def test_hits_and_recorded_requests(http: httpx.Client, good: FakeProvider) -> None:
    http.get(f"{good.base_url}/models")
    http.post(f"{good.base_url}/chat/completions", json=_CHAT, headers={"X-Test": "1"})
    http.post(f"{good.base_url}/embeddings", json={"model": "e-1", "input": "x"})
    http.post(f"{good.ollama_base_url}/api/chat", json={**_CHAT, "stream": False})
    assert good.hits == 3  # listings are not work
    assert good.hits_by_path == {
        "/v1/models": 1,
        "/v1/chat/completions": 1,
        "/v1/embeddings": 1,
        "/api/chat": 1,
    }
    chat = good.requests[1]
    assert (chat.method, chat.path, chat.endpoint, chat.protocol) == (
        "POST",
        "/v1/chat/completions",
        "chat",
        "openai",
    )
    assert chat.json == _CHAT
    assert chat.headers["x-test"] == "1"
    good.reset()
    assert (good.hits, good.hits_by_path, good.requests) == (0, {}, [])


def test_unknown_provider_and_path(http: httpx.Client, server: FakeProviderServer) -> None:
    assert http.get(f"{server.url}/nobody/v1/models").status_code == 404
    assert http.get(f"{server.url}/good/v1/nothing").status_code == 404
    assert http.get(f"{server.url}/good/v1/chat/completions").status_code == 405


def test_invalid_json_body(http: httpx.Client, good: FakeProvider) -> None:
    response = http.post(
        f"{good.base_url}/chat/completions",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


# --------------------------------------------------------------- lifecycle
async def test_200_concurrent_requests(good: FakeProvider) -> None:
    limits = httpx.Limits(max_connections=250, max_keepalive_connections=250)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def one(i: int) -> str:
            body = {"model": "m-1", "messages": [{"role": "user", "content": f"n{i}"}]}
            response = await client.post(f"{good.base_url}/chat/completions", json=body)
            response.raise_for_status()
            return str(response.json()["choices"][0]["message"]["content"])

        answers = await asyncio.gather(*(one(i) for i in range(200)))
    assert answers == ["Hello from good"] * 200
    assert good.hits == 200


def test_keep_alive_reuses_connection(http: httpx.Client, good: FakeProvider) -> None:
    for _ in range(3):
        http.post(f"{good.base_url}/chat/completions", json=_CHAT)
        http.post(f"{good.base_url}/chat/completions", json={**_CHAT, "stream": True})
    connections = {r.client for r in good.requests}
    assert len(connections) == 1
    assert good.hits == 6


def test_stop_returns_with_hanging_request() -> None:
    server = FakeProviderServer().start()
    p = server.add_provider("hang", fault=Fault.hang())
    errors: list[BaseException] = []

    def call() -> None:
        try:
            httpx.post(f"{p.base_url}/chat/completions", json=_CHAT, timeout=60)
        except httpx.HTTPError as exc:
            errors.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    for _ in range(2000):  # bounded wait for the request to arrive
        if p.hits:
            break
        threading.Event().wait(0.005)
    assert p.hits == 1
    server.stop()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], httpx.RemoteProtocolError)


def test_restart_keeps_port_and_dead_url_refuses() -> None:
    server = FakeProviderServer()
    with server:
        p = server.add_provider("p")
        url = p.base_url
        assert httpx.get(f"{url}/models").status_code == 200
        dead = server.dead_url()
        assert dead.startswith("http://127.0.0.1:") and dead.endswith("/v1")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{dead}/models")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/models")
    with server:
        assert p.base_url == url
        assert httpx.get(f"{url}/models").status_code == 200


def test_command_line_server() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    args = [sys.executable, "-m", "openmux.testing", "--port", "0"]
    args += ["--provider", "a", "--provider", "b", "--fault", "b=status:503"]
    popen = subprocess.Popen(
        args, stdout=subprocess.PIPE, text=True, env=env, preexec_fn=default_signals
    )
    with popen as proc:
        try:
            assert proc.stdout is not None
            lines = []
            for _ in range(50):  # bounded: the banner is a dozen lines
                line = proc.stdout.readline()
                lines.append(line)
                if not line or line.startswith("Press Ctrl-C"):
                    break
            banner = "".join(lines)
            urls = [w for w in banner.split() if w.startswith("http://127.0.0.1:")]
            base = next(u for u in urls if u.endswith("/a/v1"))
            broken = next(u for u in urls if u.endswith("/b/v1"))
            assert httpx.post(f"{base}/chat/completions", json=_CHAT).status_code == 200
            assert httpx.post(f"{broken}/chat/completions", json=_CHAT).status_code == 503
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                assert proc.wait(timeout=30) == 0
            finally:
                proc.kill()  # still running after the bound: the context's wait has none


def test_command_line_rejects_bad_fault() -> None:
    from openmux.testing.__main__ import main

    assert main(["--provider", "a", "--fault", "a=explode"]) == 2
    assert main(["--provider", "a", "--fault", "zzz=status:500"]) == 2


def test_reply_callable_error_becomes_500(
    http: httpx.Client, server: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(body: dict[str, Any]) -> str:
        raise RuntimeError("reply bug")

    p = server.add_provider("broken", reply=broken)
    response = http.post(f"{p.base_url}/chat/completions", json=_CHAT)
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "fake_server_error"
    assert "reply bug" in response.json()["error"]["message"]
    # The connection is closed after a server-side bug; the next request still works.
    p.reply = "fine"
    assert http.post(f"{p.base_url}/chat/completions", json=_CHAT).status_code == 200


def test_hang_with_seconds_then_closes(http: httpx.Client, good: FakeProvider) -> None:
    good.fault = Fault.hang(seconds=0.1)
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(f"{good.base_url}/chat/completions", json=_CHAT)


def test_hang_releases_its_thread_when_the_client_gives_up(good: FakeProvider) -> None:
    good.fault = Fault.hang()
    before = threading.active_count()
    with httpx.Client(timeout=0.2) as c:
        for _ in range(3):
            with pytest.raises(httpx.TimeoutException):
                c.post(f"{good.base_url}/chat/completions", json=_CHAT)
    for _ in range(400):  # bounded wait for the handler threads to notice
        if threading.active_count() <= before:
            break
        threading.Event().wait(0.025)
    assert threading.active_count() <= before
