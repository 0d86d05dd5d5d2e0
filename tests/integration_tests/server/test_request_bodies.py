"""Chat request bodies a caller got wrong: one OpenAI-style 400 naming the field, sent
before any provider is asked, benching none."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from openmux.testing import FakeProviderServer
from tests.integration_tests.server.conftest import StartServer, fake_config

# gpt-4o-mini: a model the catalog knows reads images.
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
def base_url(server: FakeProviderServer, start_server: StartServer) -> str:
    return start_server(_config(server))


@pytest.fixture
def api(base_url: str) -> OpenAI:
    return OpenAI(base_url=base_url, api_key="unused", max_retries=0)


def _asked(server: FakeProviderServer) -> int:
    return sum(1 for p in server.providers.values() for r in p.requests if r.endpoint != "models")


def _image(url: Any) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def _audio(data: Any, audio_format: Any = "wav") -> dict[str, Any]:
    return {"type": "input_audio", "input_audio": {"data": data, "format": audio_format}}


PICTURE = _image(
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
IMAGE_URL = "messages[0].content[1].image_url"
AUDIO = "messages[0].content[0].input_audio"
MEDIA_MISTAKES: list[tuple[str, str, list[Any]]] = [
    # (model, the param named, the user turn's content)
    ("openmux/auto", f"{IMAGE_URL}.url", [QUESTION, _image("data:image/png;base64,@@@")]),
    ("openmux/auto", f"{IMAGE_URL}.url", [QUESTION, _image("data:image/png,abc")]),
    ("openmux/auto", f"{IMAGE_URL}.url", [QUESTION, _image("ftp://host/cat.png")]),
    ("openmux/auto", f"{IMAGE_URL}.url", [QUESTION, _image("/etc/hosts")]),
    ("openmux/auto", f"{IMAGE_URL}.url", [QUESTION, _image("file:///etc/hosts")]),
    # base64 of no image; the Ollama client would read the first as a path on the server
    ("openmux/auto", f"{IMAGE_URL}.url", [QUESTION, _image("data:image/png;base64,///etc/hosts")]),
    ("openmux/auto", f"{IMAGE_URL}.url", [QUESTION, _image("data:image/png;base64,aGVsbG8=")]),
    ("openmux/auto", IMAGE_URL, [QUESTION, _image(5)]),
    ("openmux/auto", IMAGE_URL, [QUESTION, {"type": "image_url"}]),
    ("openmux/auto", "messages[0].content[1].input_audio.data", [QUESTION, _audio("@@@")]),
    ("openmux/audio", f"{AUDIO}.data", [_audio("@@@")]),
    ("openmux/audio", f"{AUDIO}.data", [_audio("")]),
    ("openmux/audio", f"{AUDIO}.data", [_audio(5)]),
    ("openmux/audio", f"{AUDIO}.format", [_audio("UklGRg==", "xyz")]),
    ("openmux/audio", AUDIO, [{"type": "input_audio"}]),
    ("openmux/auto", "messages[0].content[0].text", [{"type": "text", "text": 5}]),
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("model", "param", "content"), MEDIA_MISTAKES)
def test_a_media_mistake_in_a_message_is_a_400_naming_it(
    api: OpenAI, server: FakeProviderServer, model: str, param: str, content: Any, stream: bool
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        api.chat.completions.create(
            model=model, messages=[{"role": "user", "content": content}], stream=stream
        )
    assert refused.value.param == param
    message = refused.value.body["message"]  # type: ignore[index]
    assert message.startswith(param) and "\n" not in message
    assert _asked(server) == 0
    # Nobody was benched for it: the next good request is answered at the first try.
    answer = api.chat.completions.with_raw_response.create(
        model="openmux/auto",
        messages=[{"role": "user", "content": [QUESTION, PICTURE]}],
    )
    assert answer.headers["x-openmux-attempts"] == "1"


def test_good_media_parts_pass(api: OpenAI) -> None:
    for part in (_image("https://example.com/cat.png"), PICTURE):
        answer = api.chat.completions.create(
            model="openmux/auto", messages=[{"role": "user", "content": [QUESTION, part]}]
        )
        assert answer.choices[0].message.content == "From alpha."


def test_a_speech_request_without_text_is_a_400(api: OpenAI, server: FakeProviderServer) -> None:
    """The caller's mistake, no provider's: a 503 would have the openai SDK send it twice
    more."""
    with pytest.raises(openai.BadRequestError) as refused:
        api.chat.completions.create(
            model="openmux/tts", messages=[{"role": "user", "content": " "}]
        )
    assert "a speech request needs a text prompt" in refused.value.message
    assert _asked(server) == 0


WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}
ONLY_WITH: list[tuple[str, dict[str, Any]]] = [
    # (the param OpenAI names, fields it refuses without the field they belong with)
    ("stream_options", {"stream_options": {"include_usage": True}}),
    ("stream_options", {"stream": False, "stream_options": {"include_usage": True}}),
    ("tool_choice", {"tool_choice": "required"}),
    ("tool_choice", {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
    ("tool_choice", {"tools": [], "tool_choice": "auto"}),
    ("parallel_tool_calls", {"parallel_tool_calls": False}),
]


@pytest.mark.parametrize(("param", "fields"), ONLY_WITH)
def test_an_option_without_the_field_it_belongs_with_is_a_400(
    api: OpenAI, server: FakeProviderServer, param: str, fields: dict[str, Any]
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        api.chat.completions.create(
            model="openmux/auto", messages=[{"role": "user", "content": "hi"}], extra_body=fields
        )
    assert refused.value.param == param
    assert "only allowed when" in refused.value.message
    assert _asked(server) == 0


def test_tool_options_with_their_tools_pass(api: OpenAI) -> None:
    answer = api.chat.completions.create(
        model="openmux/auto",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice="required",
        parallel_tool_calls=False,
    )
    assert answer.choices[0].message.tool_calls


def test_max_tokens_counts_when_max_completion_tokens_is_null(
    api: OpenAI, server: FakeProviderServer
) -> None:
    """Clients that send every field send the one they leave unset as null."""
    with pytest.raises(openai.BadRequestError) as refused:
        api.chat.completions.create(
            model="openmux/auto",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"max_completion_tokens": None, "max_tokens": 0},
        )
    assert refused.value.param == "max_tokens"
    assert _asked(server) == 0


def test_a_compressed_body_is_refused_saying_so(base_url: str, server: FakeProviderServer) -> None:
    body = json.dumps({"model": "openmux/auto", "messages": [{"role": "user", "content": "hi"}]})
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    for path in ("/chat/completions", "/audio/transcriptions"):
        refused = httpx.post(base_url + path, content=gzip.compress(body.encode()), headers=headers)
        assert refused.status_code == 415, refused.text
        assert "Content-Encoding gzip" in refused.json()["error"]["message"]
    assert _asked(server) == 0
    plain = httpx.post(
        base_url + "/chat/completions", content=body, headers={"content-encoding": "identity"}
    )
    assert plain.status_code == 200
