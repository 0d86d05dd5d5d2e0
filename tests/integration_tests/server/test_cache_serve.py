"""`openmux serve` with `[cache] mode = "exact"`: a repeated request, streamed or not, is
answered from the cache (no provider request), as the real openai client sees it."""

from __future__ import annotations

from openai import OpenAI

from openmux.testing import FakeProviderServer
from tests.integration_tests.server.conftest import (
    ALPHA_REPLY,
    FAKE_PROVIDERS,
    StartServer,
    fake_config,
)

PROVIDERS = FAKE_PROVIDERS


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
