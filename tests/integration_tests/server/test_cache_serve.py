"""`openmux serve` with `[cache] mode = "exact"`: a repeated request, streamed or not, is
answered from the cache (no provider request), as the real openai client sees it."""

from __future__ import annotations

from typing import Any

from openai import OpenAI

from openmux.testing import FakeProviderServer
from tests.integration_tests.server.conftest import (
    ALPHA_REPLY,
    FAKE_PROVIDERS,
    StartServer,
    fake_config,
)

PROVIDERS = FAKE_PROVIDERS
CACHED_HEADER = "x-openmux-cached"


def test_a_repeated_request_is_answered_from_the_cache(
    server: FakeProviderServer, start_server: StartServer
) -> None:
    config = fake_config(server)
    config["cache"] = {"mode": "exact"}
    client = OpenAI(base_url=start_server(config), api_key="unused")
    messages = [{"role": "user", "content": "Explain recursion in one sentence"}]
    first = client.chat.completions.create(model="openmux/auto", messages=messages)
    raw = client.chat.completions.with_raw_response.create(model="openmux/auto", messages=messages)
    again = raw.parse()
    assert first.choices[0].message.content == again.choices[0].message.content == ALPHA_REPLY
    assert raw.headers["x-openmux-attempts"] == "0"
    assert raw.headers["x-openmux-provider"] == "alpha"

    def streamed(text: str) -> list[str]:
        ask = [{"role": "user", "content": text}]
        chunks = client.chat.completions.create(model="openmux/auto", messages=ask, stream=True)
        return [
            c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
        ]

    first_stream = streamed("Explain iteration in one sentence")
    replayed = streamed("Explain iteration in one sentence")
    assert replayed == first_stream and len(replayed) > 1
    assert "".join(streamed("Explain recursion in one sentence")) == ALPHA_REPLY
    assert server.providers["alpha"].hits == 2


def _cached_chat(server: FakeProviderServer, start_server: StartServer) -> tuple[Any, Any]:
    """The chat completions of a server whose response cache is on, and its provider."""
    config = fake_config(server)
    config["cache"] = {"mode": "exact"}
    chat = OpenAI(base_url=start_server(config), api_key="unused").chat.completions
    return chat, server.providers["alpha"]


def test_cache_control_skips_the_cache_per_request(
    server: FakeProviderServer, start_server: StartServer
) -> None:
    chat, alpha = _cached_chat(server, start_server)

    def ask(text: str, cache_control: str | None = None, **options: Any) -> Any:
        headers = {"Cache-Control": cache_control} if cache_control else {}
        return chat.with_raw_response.create(
            model="openmux/auto",
            messages=[{"role": "user", "content": text}],
            extra_headers=headers,
            **options,
        )

    assert CACHED_HEADER not in ask("Explain recursion").headers
    assert alpha.hits == 1
    assert ask("Explain recursion").headers[CACHED_HEADER] == "true"
    # no-cache: answered fresh, and that answer is kept.
    assert CACHED_HEADER not in ask("Explain recursion", "no-cache").headers
    assert alpha.hits == 2
    assert ask("Explain recursion").headers[CACHED_HEADER] == "true"
    assert alpha.hits == 2
    # no-store: answered fresh and not kept.
    assert CACHED_HEADER not in ask("Explain iteration", "no-store").headers
    assert CACHED_HEADER not in ask("Explain iteration").headers
    assert alpha.hits == 4
    streamed = ask("Explain iteration", stream=True)
    assert streamed.headers[CACHED_HEADER] == "true"
    assert streamed.headers["x-openmux-attempts"] == "0"
    assert (
        "".join(c.choices[0].delta.content or "" for c in streamed.parse() if c.choices)
        == ALPHA_REPLY
    )
    assert CACHED_HEADER not in ask("Explain iteration", "No-Cache", stream=True).headers
    assert alpha.hits == 5


def test_a_field_sent_on_to_the_provider_keys_the_cached_answer(
    server: FakeProviderServer, start_server: StartServer
) -> None:
    # The body reaches the provider as it came: a penalty, a logit bias or a reasoning
    # effort this server does not read itself still changes the answer.
    chat, alpha = _cached_chat(server, start_server)
    messages = [{"role": "user", "content": "Explain recursion"}]
    chat.create(model="openmux/auto", messages=messages)
    variants: list[dict[str, Any]] = [
        {"presence_penalty": 1.5},
        {"frequency_penalty": 1.0},
        {"logit_bias": {"1": 5}},
        {"reasoning_effort": "high"},
    ]
    for sent, variant in enumerate(variants, start=2):
        raw = chat.with_raw_response.create(model="openmux/auto", messages=messages, **variant)
        assert CACHED_HEADER not in raw.headers, variant
        assert alpha.hits == sent, variant
    # Streamed or not, the same request shares its answer.
    replayed = chat.with_raw_response.create(
        model="openmux/auto", messages=messages, stream=True, presence_penalty=1.5
    )
    assert replayed.headers[CACHED_HEADER] == "true"
