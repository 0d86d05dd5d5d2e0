"""What travels beside the answer: the route on streams too, the provider's rate-limit
headers, quota headroom in /metrics, and 429 when every candidate is over its quota."""

from __future__ import annotations

import time
from urllib.parse import unquote

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI
from openai import AsyncOpenAI, OpenAI

from openmux.testing import FakeProviderServer, Fault
from tests.integration_tests.server.conftest import (
    ALPHA_REPLY,
    BETA_REPLY,
    FAKE_PROVIDERS,
    StartServer,
    fake_config,
)

PROVIDERS = FAKE_PROVIDERS

RATE_HEADERS = {
    "x-ratelimit-limit-requests": "30",
    "x-ratelimit-remaining-requests": "29",
    "x-ratelimit-reset-requests": "2s",
}
ASK = [{"role": "user", "content": "Explain recursion in one sentence"}]


@pytest.fixture
def limited(server: FakeProviderServer) -> FakeProviderServer:
    for provider in server.providers.values():
        provider.response_headers = RATE_HEADERS
    return server


def route_of(headers: httpx.Headers) -> tuple[str, str, str, str]:
    return (
        headers["x-openmux-provider"],
        headers["x-openmux-model"],
        headers["x-openmux-task"],
        headers["x-openmux-attempts"],
    )


def test_stream_carries_the_route_after_failover(base_url: str, server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.status(500)
    raw = OpenAI(base_url=base_url, api_key="unused").chat.completions.with_raw_response.create(
        model="openmux/auto", messages=ASK, stream=True
    )
    # The route is known once the first chunk is in hand, failover done: the headers
    # name the same route as the metadata on the stream's last event.
    assert route_of(raw.headers)[:3] == ("beta", "shared", "chat")
    assert float(raw.headers["x-openmux-overhead-ms"]) >= 0
    chunks = list(raw.parse())
    attempts = chunks[-1].model_extra["openmux"]["attempts"]
    assert raw.headers["x-openmux-attempts"] == str(len(attempts))
    assert [a["status"] for a in attempts][-1] == "ok" and len(attempts) > 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == BETA_REPLY


async def test_async_stream_carries_the_route_and_rate_limits(
    base_url: str, limited: FakeProviderServer
) -> None:
    api = AsyncOpenAI(base_url=base_url, api_key="unused")
    raw = await api.chat.completions.with_raw_response.create(
        model="alpha:shared", messages=ASK, stream=True
    )
    assert route_of(raw.headers) == ("alpha", "shared", "chat", "1")
    assert raw.headers["x-ratelimit-remaining-requests"] == "29"
    stream = raw.parse()
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == ALPHA_REPLY
    await api.close()


def test_a_streamed_summary_names_the_model_that_writes_it(
    base_url: str, limited: FakeProviderServer
) -> None:
    # The merging model's stream is the answer: its first chunk sends the headers.
    limited.providers["beta"].stream_delay = 0.02
    raw = OpenAI(base_url=base_url, api_key="unused").chat.completions.with_raw_response.create(
        model="openmux/fanout",
        messages=ASK,
        stream=True,
        extra_body={"openmux": {"combiner": "summarize", "judge": "beta:beta-only"}},
    )
    chunks = list(raw.parse())
    meta = chunks[-1].model_extra["openmux"]
    assert (meta["provider"], meta["model"]) == ("beta", "beta-only")
    assert route_of(raw.headers) == ("beta", "beta-only", "chat", str(len(meta["attempts"])))
    assert raw.headers["x-ratelimit-remaining-requests"] == "29"


def test_rate_limit_headers_pass_through(base_url: str, limited: FakeProviderServer) -> None:
    raw = OpenAI(base_url=base_url, api_key="unused").chat.completions.with_raw_response.create(
        model="openmux/auto", messages=ASK
    )
    for name, value in RATE_HEADERS.items():
        assert raw.headers[name] == value
    # Only rate-limit headers cross: the provider's own request id stays behind.
    assert "x-request-id" not in raw.headers


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
@pytest.mark.parametrize("model_id", ["模型", "a\r\nx-injected: 1"], ids=["non-latin-1", "crlf"])
def test_a_model_id_no_header_can_hold_still_gets_its_answer(
    base_url: str, model_id: str, stream: bool
) -> None:
    """A pinned id goes to the provider as given (llama.cpp answers any), and a provider's
    listing may hold any id: the header naming it is percent-encoded, never a 500 or a cut
    connection, and never a header of the id's making."""
    api = OpenAI(base_url=base_url, api_key="unused", max_retries=0)
    raw = api.chat.completions.with_raw_response.create(
        model=f"alpha:{model_id}", messages=ASK, stream=stream
    )
    assert raw.headers["x-openmux-provider"] == "alpha"
    assert unquote(raw.headers["x-openmux-model"]) == model_id
    assert "x-injected" not in raw.headers
    if stream:
        chunks = list(raw.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == ALPHA_REPLY
    else:
        answer = raw.parse()
        assert answer.model == f"alpha:{model_id}"
        assert answer.choices[0].message.content == ALPHA_REPLY


def test_a_rate_limit_header_too_long_to_be_a_count_is_not_passed_on(
    base_url: str, server: FakeProviderServer
) -> None:
    server.providers["alpha"].response_headers = {
        **RATE_HEADERS,
        "x-ratelimit-reset-tokens": "9" * 20_000,
    }
    raw = OpenAI(base_url=base_url, api_key="unused").chat.completions.with_raw_response.create(
        model="alpha:shared", messages=ASK
    )
    assert raw.headers["x-ratelimit-remaining-requests"] == "29"
    assert "x-ratelimit-reset-tokens" not in raw.headers
    assert raw.parse().choices[0].message.content == ALPHA_REPLY


def test_langchain_client_sees_route_and_rate_limits(
    base_url: str, limited: FakeProviderServer
) -> None:
    model = ChatOpenAI(
        base_url=base_url, api_key="unused", model="openmux/auto", include_response_headers=True
    )
    answer = model.invoke("Explain recursion in one sentence")
    assert answer.response_metadata["headers"]["x-ratelimit-limit-requests"] == "30"
    first = next(iter(model.stream("Explain recursion in one sentence")))
    headers = first.response_metadata["headers"]
    assert headers["x-openmux-provider"] == "alpha"
    assert headers["x-ratelimit-remaining-requests"] == "29"


def test_metrics_export_quota_headroom(
    start_server: StartServer, server: FakeProviderServer
) -> None:
    config = fake_config(server)
    config["providers"]["alpha"]["limits"] = {"rpm": 5, "rpd": 100}
    base_url = start_server(config)
    OpenAI(base_url=base_url, api_key="unused").chat.completions.create(
        model="alpha:shared", messages=ASK
    )
    text = httpx.get(base_url.removesuffix("/v1") + "/metrics").text
    # `[providers.X] limits` of a provider the table does not know bind it as a whole.
    assert 'openmux_quota_remaining{limit="rpm",model="*",provider="alpha"} 4.0' in text
    assert 'openmux_quota_remaining{limit="rpd",model="*",provider="alpha"} 99.0' in text
    rows = [line for line in text.splitlines() if line.startswith("openmux_quota_remaining{")]
    assert rows and all('provider="beta"' not in row for row in rows)  # beta: no known limits


def test_every_candidate_over_quota_is_429(
    start_server: StartServer, server: FakeProviderServer
) -> None:
    config = fake_config(server)
    for name in ("alpha", "beta"):
        config["providers"][name]["limits"] = {"rpm": 1}
    api = OpenAI(base_url=start_server(config), api_key="unused", max_retries=0)
    api.chat.completions.create(model="alpha:shared", messages=ASK)
    api.chat.completions.create(model="beta:shared", messages=ASK)
    hits = {name: p.hits for name, p in server.providers.items()}
    with pytest.raises(openai.RateLimitError) as over:
        api.chat.completions.create(model="openmux/auto", messages=ASK)
    # A rolling minute frees a second after its oldest count leaves it: at most 61 s.
    assert 1 <= int(over.value.response.headers["retry-after"]) <= 61
    assert "over_quota" in over.value.message
    with pytest.raises(openai.RateLimitError):
        api.chat.completions.create(model="openmux/auto", messages=ASK, stream=True)
    assert {name: p.hits for name, p in server.providers.items()} == hits


def wait_left_out(headers: httpx.Headers, client_s: float, wait_s: float) -> bool:
    """Whether the reported overhead leaves a known wait out. Overhead is the server's time
    less its waits, and the server's time is within the client's: with the wait left out
    it is at most the client's time less the wait, on any machine however slow; with the
    wait counted it would not be (unless the client's own share exceeded the wait)."""
    return float(headers["x-openmux-overhead-ms"]) / 1000 <= client_s - wait_s


def test_overhead_leaves_out_the_back_off_before_a_retry(
    base_url: str, server: FakeProviderServer
) -> None:
    # The first request is refused with Retry-After: 1, the retry answers (seed 1 draws
    # a failure, then a success).
    server.providers["alpha"].fault = Fault.flaky(
        0.5, seed=1, fault=Fault.status(429, retry_after=1)
    )
    began = time.perf_counter()
    raw = OpenAI(base_url=base_url, api_key="unused").chat.completions.with_raw_response.create(
        model="alpha:shared", messages=ASK
    )
    client_s = time.perf_counter() - began
    assert raw.headers["x-openmux-attempts"] == "2"
    assert raw.parse().choices[0].message.content == ALPHA_REPLY
    assert wait_left_out(raw.headers, client_s, 1.0)  # the back-off is not OpenMux's time


@pytest.mark.parametrize("stream", [False, True])
def test_overhead_leaves_out_the_providers_time(
    base_url: str, server: FakeProviderServer, stream: bool
) -> None:
    server.providers["alpha"].fault = Fault.slow_first_token(1.0)
    began = time.perf_counter()
    raw = OpenAI(base_url=base_url, api_key="unused").chat.completions.with_raw_response.create(
        model="alpha:shared", messages=ASK, stream=stream
    )
    if stream:
        for _ in raw.parse():
            pass
    client_s = time.perf_counter() - began
    assert raw.headers["x-openmux-provider"] == "alpha"
    assert wait_left_out(raw.headers, client_s, 1.0)  # the provider's second is its own
