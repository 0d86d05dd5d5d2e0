"""Failover through the server: the client sees the healthy provider's whole answer, or an
error; never a truncated answer that ends like a complete one."""

from __future__ import annotations

import openai
import pytest
from openai import OpenAI

from openmux.testing import FakeProviderServer, Fault
from tests.helpers import gzip_bomb, provider_config
from tests.integration_tests.server.conftest import (
    ALPHA_REPLY,
    BETA_REPLY,
    FAKE_PROVIDERS,
    StartServer,
    fake_config,
)

PROVIDERS = FAKE_PROVIDERS

FAULTS = {
    "429": Fault.status(429, retry_after=1),
    "500": Fault.status(500),
    "in-body error": Fault.error_body(502, "upstream failed"),
    "garbage": Fault.garbage(),
    "hang": Fault.hang(),
    "disconnect": Fault.disconnect(),
}


EXPLAIN = [{"role": "user", "content": "Explain recursion"}]


def ask(base_url: str, *, stream: bool) -> str:
    api = OpenAI(base_url=base_url, api_key="unused", max_retries=0)
    if not stream:
        answer = api.chat.completions.create(model="openmux/auto", messages=EXPLAIN)
        return answer.choices[0].message.content or ""
    chunks = api.chat.completions.create(model="openmux/auto", messages=EXPLAIN, stream=True)
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_fails_over_to_the_next_provider(
    start_server: StartServer, server: FakeProviderServer, fault: str, stream: bool
) -> None:
    server.providers["alpha"].fault = FAULTS[fault]
    base_url = start_server(fake_config(server, first_token=0.5))
    assert ask(base_url, stream=stream) == BETA_REPLY
    assert server.providers["alpha"].hits >= 1


def _recovered_after_rate_limits(
    start_server: StartServer, server: FakeProviderServer, fault: Fault
) -> OpenAI:
    """A client of a server whose every provider answered `fault` to its first request
    (a 429 to the client), and has recovered since."""
    for provider in server.providers.values():
        provider.fault = fault
    api = OpenAI(base_url=start_server(), api_key="unused", max_retries=0)
    with pytest.raises(openai.RateLimitError):
        api.chat.completions.create(model="openmux/auto", messages=EXPLAIN)
    for provider in server.providers.values():
        provider.fault = None
    return api


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
def test_an_answer_after_waiting_out_a_bench_names_its_route(
    start_server: StartServer, server: FakeProviderServer, stream: bool
) -> None:
    api = _recovered_after_rate_limits(start_server, server, Fault.status(429, retry_after=1))
    # Every candidate is still benched for up to a second: a round over them all fails,
    # the request waits the bench out, and the next round answers. That answer's route
    # is the one reported, not the failed round's.
    raw = api.chat.completions.with_raw_response.create(
        model="openmux/auto", messages=EXPLAIN, stream=stream
    )
    provider, model = raw.headers["x-openmux-provider"], raw.headers["x-openmux-model"]
    assert (provider, model) in {("alpha", "shared"), ("beta", "shared")}
    if stream:
        last = list(raw.parse())[-1].model_extra["openmux"]["attempts"][-1]
        assert (last["provider"], last["model"], last["status"]) == (provider, model, "ok")
    else:
        assert raw.parse().model == f"{provider}:{model}"


@pytest.mark.parametrize("header", ["Retry-After", "X-RateLimit-Reset"])
def test_an_endless_wait_a_provider_names_benches_it_for_the_usual_time(
    start_server: StartServer, server: FakeProviderServer, header: str
) -> None:
    """A 429 whose wait overflows to infinity ("1e400") benched every candidate for
    ever: the server answered 429 to every later request, the providers long healthy."""
    fault = Fault.status(429, headers={header: "1e400"})
    api = _recovered_after_rate_limits(start_server, server, fault)
    # The bench a rate limit with no usable wait gets ends within the total timeout.
    answer = api.chat.completions.create(model="openmux/auto", messages=EXPLAIN)
    assert answer.choices[0].message.content in (ALPHA_REPLY, BETA_REPLY)


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
def test_dead_port_fails_over(
    start_server: StartServer, server: FakeProviderServer, stream: bool
) -> None:
    config = provider_config(server.providers["alpha"], server.providers["beta"])
    config["providers"]["alpha"]["base_url"] = server.dead_url()
    assert ask(start_server(config), stream=stream) == BETA_REPLY


def test_cut_before_the_first_chunk_fails_over(
    start_server: StartServer, server: FakeProviderServer
) -> None:
    server.providers["alpha"].fault = Fault.mid_stream_error(after_chunks=0)
    assert ask(start_server(), stream=True) == BETA_REPLY


def test_cut_mid_stream_ends_with_an_error_event(
    start_server: StartServer, server: FakeProviderServer
) -> None:
    server.providers["alpha"].fault = Fault.mid_stream_error(after_chunks=3)
    api = OpenAI(base_url=start_server(), api_key="unused", max_retries=0)
    stream = api.chat.completions.create(
        model="openmux/auto", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    received: list[str] = []
    with pytest.raises(openai.APIError, match="streamed"):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    partial = "".join(received)
    assert partial and ALPHA_REPLY.startswith(partial) and partial != ALPHA_REPLY
    assert server.providers["beta"].hits == 0  # never spliced with another answer


def _raw_stream(base_url: str) -> str:
    """The raw SSE text of a streamed answer to "hi"."""
    import httpx

    body = {
        "model": "openmux/auto",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    }
    with httpx.stream("POST", base_url + "/chat/completions", json=body) as response:
        assert response.status_code == 200
        return "".join(response.iter_text())


def test_cut_mid_stream_raw_events_have_no_done(
    start_server: StartServer, server: FakeProviderServer
) -> None:

    server.providers["alpha"].fault = Fault.mid_stream_error(after_chunks=3)
    text = _raw_stream(start_server())
    assert "event: error" in text
    assert "[DONE]" not in text
    assert '"finish_reason":"stop"' not in text


@pytest.mark.parametrize(
    "keepalive", [True, False, "empty"], ids=["keep-alive comments", "silence", "empty events"]
)
def test_a_stream_gone_quiet_ends_with_an_error_event(
    start_server: StartServer, server: FakeProviderServer, keepalive: bool | str
) -> None:
    """After its first chunk a provider sends nothing, or only keep-alive comments, or
    data events with an empty delta: the first-token timeout ends the wait for its next
    piece of data."""
    server.providers["alpha"].fault = Fault.stalls(
        1, keepalive=keepalive is True, empty_events=keepalive == "empty", seconds=30
    )
    text = _raw_stream(start_server(fake_config(server, first_token=1.0, total=60.0)))
    assert '"content":"Hello' in text
    assert "event: error" in text and "stream_interrupted" in text
    assert "[DONE]" not in text
    assert server.providers["beta"].hits == 0  # never spliced with another answer


@pytest.mark.parametrize("done", [False, True], ids=["cut", "done"])
def test_a_stream_without_a_finish_reason_is_complete_only_with_its_done(
    start_server: StartServer, server: FakeProviderServer, done: bool
) -> None:
    """A body that ends with neither a finish reason nor `[DONE]` was cut short (an error
    event); `[DONE]` alone says it finished, as some OpenAI-compatible servers say it."""

    frame = '{"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": null}]}'
    events = f"data: {frame}\n\n" + ("data: [DONE]\n\n" if done else "")
    server.providers["alpha"].fault = Fault.garbage(events, content_type="text/event-stream")
    text = _raw_stream(start_server())
    assert '"content":"Hi"' in text
    assert ("event: error" in text) is not done
    assert ("[DONE]" in text) is done


def test_a_body_that_does_not_decompress_is_a_bad_response(
    start_server: StartServer, server: FakeProviderServer
) -> None:
    import json

    server.providers["alpha"].fault = Fault.garbage(
        "not gzip at all", content_type="text/event-stream", headers={"Content-Encoding": "gzip"}
    )
    events = [
        json.loads(line[len("data: ") :])
        for line in _raw_stream(start_server()).splitlines()
        if line.startswith("data: {")
    ]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert text == BETA_REPLY
    attempts = events[-1]["openmux"]["attempts"]
    # Not a network failure (that is retried on the spot): the provider's garbage.
    assert {a["status"] for a in attempts if a["provider"] == "alpha"} == {"bad_response"}


def test_a_gzip_bomb_fails_over(
    start_server: StartServer, server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer's size cap counts the bytes its body inflates to."""
    import json

    from openmux.providers import _first_token

    monkeypatch.setattr(_first_token, "MAX_ANSWER_BYTES", 1 << 20)
    server.providers["alpha"].fault = Fault.garbage(
        gzip_bomb(b'data: {"choices": "'),
        content_type="text/event-stream",
        headers={"Content-Encoding": "gzip"},
    )
    events = [
        json.loads(line[len("data: ") :])
        for line in _raw_stream(start_server()).splitlines()
        if line.startswith("data: {")
    ]
    alpha = [a for a in events[-1]["openmux"]["attempts"] if a["provider"] == "alpha"]
    assert alpha and {a["status"] for a in alpha} == {"bad_response"}
    assert all("larger than 1 MiB" in a["error"] for a in alpha)


REFUSALS = {
    # what every provider answered: (the fault, the status and code a client gets)
    "too long": (
        Fault.status(400, message="This model's maximum context length is 8192 tokens"),
        "context_length_exceeded",
    ),
    "flagged": (
        Fault.status(400, message="Your request was flagged by our content policy"),
        "content_policy_violation",
    ),
    "invalid": (Fault.status(422, message="'top_k' is not a supported parameter"), None),
}


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
@pytest.mark.parametrize("refusal", list(REFUSALS))
def test_a_request_every_provider_refuses_is_a_bad_request(
    start_server: StartServer, server: FakeProviderServer, refusal: str, stream: bool
) -> None:
    """A 503 told OpenAI clients to try again (the openai SDK retries it twice), so a
    request that every provider refused as too long, flagged or invalid was sent round
    them all three times; none of them would ever answer it."""
    fault, code = REFUSALS[refusal]
    for provider in server.providers.values():
        provider.fault = fault
    api = OpenAI(base_url=start_server(), api_key="unused", max_retries=2)
    with pytest.raises(openai.BadRequestError) as raised:
        list(api.chat.completions.create(model="openmux/auto", messages=EXPLAIN, stream=stream))
    assert raised.value.code == code
    assert raised.value.status_code == 400
    # Asked once: the client did not retry, and no model was asked twice.
    models = sum(len(spec["models"]) for spec in FAKE_PROVIDERS.values())
    assert sum(p.hits for p in server.providers.values()) <= models


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
@pytest.mark.parametrize("short_body", [False, True], ids=["bad chunk size", "short body"])
def test_broken_framing_fails_over_without_asking_again(
    start_server: StartServer, server: FakeProviderServer, stream: bool, short_body: bool
) -> None:
    """HTTP framing broken after the status line is the provider's bad answer: it spent
    a request of its quota on it, and is not asked again on the spot."""
    body = 'data: {"choices": [{"ind' if stream else '{"choices": [{"ind'
    server.providers["alpha"].fault = Fault.bad_framing(body, short_body=short_body)
    api = OpenAI(base_url=start_server(), api_key="unused", max_retries=0)
    # The model both providers have: alpha's, then beta's.
    raw = api.chat.completions.with_raw_response.create(
        model="shared", messages=EXPLAIN, stream=stream
    )
    if stream:
        assert "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert raw.headers["x-openmux-provider"] == "beta"
    assert raw.headers["x-openmux-attempts"] == "2"
    assert server.providers["alpha"].hits == 1
