"""Chat request bodies a caller got wrong: one OpenAI-style 400 naming the field, sent
before any provider is asked, benching none."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai import OpenAI

from openmux.testing import FakeProviderServer
from tests.integration_tests.server.conftest import StartServer, fake_config

PROVIDERS = {
    name: dict(models=["gpt-4o-mini", "shared"], reply=f"From {name}.")
    for name in ("alpha", "beta")
}

QUESTION = {"type": "text", "text": "What is in this picture?"}


def _config(server: FakeProviderServer) -> dict[str, Any]:
    config = fake_config(server)
    for name in ("alpha", "beta"):
        config["providers"][name].update(
            free=True, speech_models=[f"{name}-tts"], transcription_models=[f"{name}-whisper"]
        )
    return config


@pytest.fixture
def api(server: FakeProviderServer, start_server: StartServer) -> OpenAI:
    return OpenAI(base_url=start_server(_config(server)), api_key="unused", max_retries=0)


def _asked(server: FakeProviderServer) -> int:
    return sum(1 for p in server.providers.values() for r in p.requests if r.endpoint != "models")


def test_a_speech_request_without_text_is_a_400(api: OpenAI, server: FakeProviderServer) -> None:
    """The caller's mistake, no provider's: a 503 would have the openai SDK send it twice
    more."""
    with pytest.raises(openai.BadRequestError) as refused:
        api.chat.completions.create(
            model="openmux/tts", messages=[{"role": "user", "content": " "}]
        )
    assert "a speech request needs a text prompt" in refused.value.message
    assert _asked(server) == 0
