"""The async provider pool (its own HTTP/1.1 client, behind an httpx transport) against real
loopback servers: departures, deadlines, the first-token watch, failures as httpx names
them, proxies from the environment, and the pool's life with its event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Coroutine
from types import ModuleType
from typing import Any

import httpx
import httpx2
import pytest

from openmux.providers import _http, watching_sends
from openmux.providers._aio import AioPool, transport_class
from openmux.testing import FakeProvider, FakeProviderServer, Fault

CHAT = {"model": "m-1", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def provider(fake_provider_server: FakeProviderServer) -> FakeProvider:
    return fake_provider_server.add_provider("p", models=["m-1"], reply="pong")


def _client(module: ModuleType, pool: AioPool | None = None) -> Any:
    pool = pool or AioPool(_http.ssl_context(), _http.MAX_CONNECTIONS, lambda response: None)
    return module.AsyncClient(transport=transport_class(module)(pool), trust_env=False)


def _timeout(module: ModuleType, read: float) -> Any:
    return module.Timeout(30.0, connect=5.0, read=read)


def _run(work: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(work())


@pytest.mark.parametrize("module", [httpx, httpx2], ids=["httpx", "httpx2"])
def test_answers_and_counts_the_departure(module: ModuleType, provider: FakeProvider) -> None:
    async def work() -> tuple[int, str, Any]:
        async with _client(module) as client:
            with watching_sends() as sends:
                response = await client.post(provider.base_url + "/chat/completions", json=CHAT)
            return response.status_code, response.json()["choices"][0]["message"]["content"], sends

    status, text, sends = _run(work)
    assert (status, text) == (200, "pong")
    assert (sends.asked, sends.sent, sends.dropped) == (1, 1, 0)
    assert sends.first_sent is not None


def test_a_request_queued_behind_its_own_pool_never_left(
    fake_provider_server: FakeProviderServer,
) -> None:
    hanging = fake_provider_server.add_provider("hanging", models=["m-1"])
    hanging.fault = Fault.hang()
    pool = AioPool(_http.ssl_context(), 1, lambda response: None)

    async def work() -> Any:
        async with _client(httpx2, pool) as client:
            url = hanging.base_url + "/chat/completions"
            holder = asyncio.create_task(client.post(url, json=CHAT, timeout=60.0))
            await asyncio.sleep(0.2)  # the one connection is taken
            with watching_sends() as queued, pytest.raises(httpx2.PoolTimeout):
                await client.post(url, json=CHAT, timeout=httpx2.Timeout(60.0, pool=0.5))
            holder.cancel()
            return queued

    queued = _run(work)
    assert queued.never_sent
    assert (queued.asked, queued.sent, queued.dropped) == (1, 0, 1)


def test_a_hang_times_out_from_the_send(fake_provider_server: FakeProviderServer) -> None:
    hanging = fake_provider_server.add_provider("hanging", models=["m-1"])
    hanging.fault = Fault.hang()

    async def work() -> Any:
        async with _client(httpx2) as client:
            with watching_sends() as sends, pytest.raises(httpx2.ReadTimeout, match="of sending"):
                await client.post(
                    hanging.base_url + "/chat/completions", json=CHAT, timeout=_timeout(httpx2, 0.5)
                )
            return sends

    sends = _run(work)
    assert (sends.asked, sends.sent) == (1, 1)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
def test_keepalive_comments_do_not_extend_the_first_token_deadline(
    provider: FakeProvider, stream: bool
) -> None:
    provider.fault = Fault.slow_first_token(seconds=5, keepalive=True)

    async def work() -> None:
        async with _client(httpx2) as client:
            request = client.build_request(
                "POST",
                provider.base_url + "/chat/completions",
                json={**CHAT, "stream": stream},
                timeout=_timeout(httpx2, 0.5),
            )
            response = await client.send(request, stream=True)
            try:
                with pytest.raises(httpx2.ReadTimeout, match="keep-alive comments only"):
                    async for _ in response.aiter_bytes():
                        pass
            finally:
                await response.aclose()

    _run(work)


def test_a_dead_port_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def work() -> None:
        async with _client(httpx2) as client:
            with watching_sends() as sends, pytest.raises(httpx2.ConnectError):
                await client.get(f"http://127.0.0.1:{port}/v1/models")
        assert (sends.asked, sends.sent) == (1, 1)  # it reached for the network: not queued

    _run(work)


def test_a_disconnect_before_the_answer_is_a_protocol_error(provider: FakeProvider) -> None:
    provider.fault = Fault.disconnect()

    async def work() -> None:
        async with _client(httpx) as client:
            with pytest.raises(httpx.RemoteProtocolError):
                await client.post(provider.base_url + "/chat/completions", json=CHAT)

    _run(work)


async def _serve_cut_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
        b'17\r\ndata: {"choices": []}\n\n\r\n'
    )
    await writer.drain()
    writer.close()  # mid-body, without the closing chunk


def test_a_stream_cut_mid_body_is_a_protocol_error() -> None:
    async def work() -> list[bytes]:
        server = await asyncio.start_server(_serve_cut_stream, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        received: list[bytes] = []
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        async with (
            server,
            _client(httpx2) as client,
            client.stream("POST", url, json=CHAT) as answer,
        ):
            with pytest.raises(httpx2.RemoteProtocolError):
                async for chunk in answer.aiter_bytes():
                    received.append(chunk)
        return received

    assert b"".join(_run(work)) == b'data: {"choices": []}\n\n'


class _ForwardProxy:
    """A plain HTTP forward proxy on loopback that remembers the request lines it relayed."""

    def __init__(self) -> None:
        self.request_lines: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line = head.split(b"\r\n", 1)[0]
        self.request_lines.append(line)
        target = httpx.URL(line.split(b" ")[1].decode())
        upstream_reader, upstream_writer = await asyncio.open_connection(target.host, target.port)
        upstream_writer.write(head)
        await asyncio.gather(
            self._relay(reader, upstream_writer), self._relay(upstream_reader, writer)
        )

    @staticmethod
    async def _relay(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        finally:
            sink.close()


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY"])
def test_proxies_come_from_the_environment(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    proxy = _ForwardProxy()
    for name in ("NO_PROXY", "no_proxy", "http_proxy", "all_proxy", "HTTP_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)

    async def work() -> int:
        server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
        monkeypatch.setenv(variable, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        async with server, _client(httpx2) as client:
            response = await client.post(provider.base_url + "/chat/completions", json=CHAT)
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            async with _client(httpx2) as bypassing:
                await bypassing.post(provider.base_url + "/chat/completions", json=CHAT)
        return int(response.status_code)

    assert _run(work) == 200
    assert proxy.request_lines == [f"POST {provider.base_url}/chat/completions HTTP/1.1".encode()]


def test_the_loops_pool_closes_with_the_loop(provider: FakeProvider) -> None:
    async def work() -> AioPool:
        client = _http.async_client(asyncio.get_running_loop())
        response = await client.post(provider.base_url + "/chat/completions", json=CHAT)
        assert response.status_code == 200
        return _http.aio_pool(asyncio.get_running_loop())

    before = _http.open_loop_pools()
    pool = _run(work)
    assert _http.open_loop_pools() == before
    assert pool.closed


def test_a_stream_left_early_and_a_cancelled_request_leak_no_connection(
    fake_provider_server: FakeProviderServer, provider: FakeProvider
) -> None:
    provider.fault = Fault.slow_first_token(seconds=5, keepalive=True)
    hanging = fake_provider_server.add_provider("hanging", models=["m-1"])
    hanging.fault = Fault.hang()
    pool = AioPool(_http.ssl_context(), 10, lambda response: None)

    async def work() -> tuple[int, int]:
        async with _client(httpx2, pool) as client:
            streamed = {**CHAT, "stream": True}
            url = provider.base_url + "/chat/completions"
            async with client.stream("POST", url, json=streamed) as answer:
                async for _ in answer.aiter_bytes():
                    break  # a keep-alive comment: the rest of the body is never read
            waiting = asyncio.create_task(client.post(hanging.base_url + "/chat/completions"))
            await asyncio.sleep(0.3)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            return pool.connections

    assert _run(work) == (0, 0)  # closed, none kept half-read for reuse


async def _serve_late_ending_streams(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Event streams over one keep-alive connection, each body ending 50 ms after its
    `[DONE]` (as a server does that writes the closing chunk on its own)."""
    while head := await reader.readuntil(b"\r\n\r\n"):
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        for event in (
            b'data: {"choices": [{"index": 0, "delta": {"content": "hi"}}]}',
            b"data: [DONE]",
        ):
            writer.write(b"%x\r\n%s\n\n\r\n" % (len(event) + 2, event))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"0\r\n\r\n")
        await writer.drain()


def test_a_finished_event_stream_gives_its_connection_back() -> None:
    from openmux.config import Timeouts, load_settings
    from openmux.providers._wire import OpenAIEndpoint

    async def work() -> tuple[list[str], list[tuple[int, int]], int]:
        connections = 0

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                await _serve_late_ending_streams(reader, writer)

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        config = {
            "router": {"providers": ["late"]},
            "providers": {
                "late": {
                    "protocol": "openai",
                    "base_url": f"http://127.0.0.1:{port}/v1",
                    "models": ["m-1"],
                }
            },
        }
        settings = load_settings(config)
        loop = asyncio.get_running_loop()
        endpoint = OpenAIEndpoint(settings.providers["late"], "m-1", Timeouts(), loop)
        pool = _http.aio_pool(loop)
        texts, seen = [], []
        async with server:
            for _ in range(3):
                chunks = [c async for c in endpoint.stream({**CHAT, "stream": True})]
                texts.append("".join(str(chunk.content) for chunk in chunks))
                await asyncio.sleep(0.2)
                seen.append(pool.connections)
        return texts, seen, connections

    texts, seen, connections = _run(work)
    assert texts == ["hi"] * 3
    # Each stream ended the caller's read at its [DONE]; its connection went back to the
    # pool once the body ended, and the next stream reused it.
    assert seen == [(0, 1)] * 3
    assert connections == 1
