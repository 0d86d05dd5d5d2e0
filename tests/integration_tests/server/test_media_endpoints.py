"""`/v1/images/generations`, `/v1/audio/speech`, `/v1/audio/transcriptions` with the real
openai client, over fake providers speaking OpenAI's media formats."""

from __future__ import annotations

import base64
import io
import wave
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from PIL import Image

from openmux.providers import sniff_mime
from openmux.testing import FakeProviderServer, Fault
from openmux.testing._media import wav
from tests.integration_tests.server.conftest import FAKE_PROVIDERS, StartServer, fake_config

PROVIDERS = FAKE_PROVIDERS


def _media_config(server: FakeProviderServer) -> dict[str, Any]:
    config: dict[str, Any] = fake_config(server)
    for name in ("alpha", "beta"):
        config["providers"][name].update(
            free=True,
            image_models=[f"{name}-image"],
            speech_models=[f"{name}-tts"],
            transcription_models=[f"{name}-whisper"],
        )
    return config


@pytest.fixture
def media_url(server: FakeProviderServer, start_server: StartServer) -> str:
    return start_server(_media_config(server))


def _client(base_url: str) -> OpenAI:
    return OpenAI(base_url=base_url, api_key="unused", max_retries=0)


def test_image_generation(media_url: str) -> None:
    raw = _client(media_url).images.with_raw_response.generate(
        model="openmux/auto", prompt="a red fox", size="256x256"
    )
    image = raw.parse()
    assert image.data is not None
    data = base64.b64decode(image.data[0].b64_json or "")
    with Image.open(io.BytesIO(data)) as png:
        assert png.size == (256, 256)
    assert raw.headers["x-openmux-provider"] == "alpha"
    assert raw.headers["x-openmux-task"] == "image"


def test_speech_then_transcription_with_failover(
    media_url: str, server: FakeProviderServer
) -> None:
    server.providers["alpha"].fault = Fault.status(503)
    client = _client(media_url)
    speech = client.audio.speech.with_raw_response.create(
        model="openmux/auto", input="Hello from the server", voice="alloy", response_format="wav"
    )
    audio = speech.content
    with wave.open(io.BytesIO(audio)) as sound:
        assert sound.getnframes() / sound.getframerate() > 0.5
    assert speech.headers["content-type"] == "audio/wav"
    assert speech.headers["x-openmux-provider"] == "beta"
    assert speech.headers["x-openmux-attempts"] == "3"  # a 503 is retried once, then beta
    text = client.audio.transcriptions.create(
        model="openmux/auto", file=("hello.wav", audio, "audio/wav")
    )
    assert text.text == "Transcript from beta."


def test_media_errors_are_openai_errors(media_url: str, server: FakeProviderServer) -> None:
    client = _client(media_url)
    with pytest.raises(openai.BadRequestError, match="WIDTHxHEIGHT"):
        client.images.generate(model="openmux/auto", prompt="a fox", size="big")  # type: ignore[arg-type]
    for name in ("alpha", "beta"):
        server.providers[name].fault = Fault.status(429, retry_after=60)
    with pytest.raises(openai.RateLimitError):
        client.images.generate(model="openmux/auto", prompt="a fox")


def _asked(server: FakeProviderServer) -> list[str]:
    return [r.endpoint for p in server.providers.values() for r in p.requests]


def test_a_chunked_upload_over_the_limit_is_refused(
    server: FakeProviderServer, start_server: StartServer
) -> None:
    # No content-length: the limit holds while the body is read, not only when declared.
    url = start_server(_media_config(server), max_request_bytes=64 * 1024)
    head = (
        b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nopenmux/auto\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        b"Content-Type: audio/wav\r\n\r\n"
    )

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(20):
            yield b"R" * 16 * 1024
        yield b"\r\n--b--\r\n"

    response = httpx.post(
        f"{url}/audio/transcriptions",
        content=body(),
        headers={"content-type": "multipart/form-data; boundary=b"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert _asked(server) == []


def test_speech_openai_refuses_is_refused_before_any_provider_is_asked(
    server: FakeProviderServer, start_server: StartServer
) -> None:
    url = start_server(_media_config(server))
    client = _client(url)
    with pytest.raises(openai.BadRequestError, match="4096") as too_long:
        client.audio.speech.create(model="openmux/auto", input="word " * 1000, voice="alloy")
    assert too_long.value.body["param"] == "input"  # type: ignore[index]
    for voice in (5, {"id": "alloy"}):
        refused = httpx.post(
            f"{url}/audio/speech",
            json={"model": "openmux/auto", "input": "Hello", "voice": voice},
            timeout=30,
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["param"] == "voice"
    assert _asked(server) == []
    # At the limit it is spoken.
    spoken = client.audio.speech.create(model="openmux/auto", input="a" * 4096, voice="alloy")
    assert spoken.content[:4] == b"RIFF"


def test_speech_comes_in_the_response_format_asked_for(
    server: FakeProviderServer, start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Gemini makes WAV alone (its PCM wrapped): an mp3 request goes to a model making mp3.
    monkeypatch.setenv("GEMINI_API_KEY", "gem-key")
    config = _media_config(server)
    config["router"]["providers"] = ["gemini", "alpha"]
    config["providers"]["gemini"] = {"base_url": server.providers["beta"].gemini_base_url}
    client = _client(start_server(config))
    speech = client.audio.speech.with_raw_response.create(
        model="openmux/auto", input="Hello", voice="alloy", response_format="mp3"
    )
    assert speech.headers["content-type"] == "audio/mpeg"
    assert sniff_mime(speech.content) == "audio/mpeg"
    assert speech.headers["x-openmux-provider"] == "alpha"
    gemini = server.providers["beta"]
    assert [r for r in gemini.requests if r.endpoint == "speech"] == []
    # Gemini alone: refused before it is asked, naming the format it makes.
    with pytest.raises(openai.BadRequestError, match="wav") as refused:
        client.audio.speech.create(
            model="gemini:gemini-2.5-flash-preview-tts",
            input="Hello",
            voice="Kore",
            response_format="mp3",
        )
    assert refused.value.body["param"] == "response_format"  # type: ignore[index]
    assert [r for r in gemini.requests if r.endpoint == "speech"] == []
    wav_answer = client.audio.speech.create(
        model="gemini:gemini-2.5-flash-preview-tts", input="Hello", voice="Kore"
    )
    assert wav_answer.content[:4] == b"RIFF"


def test_image_fields_take_openai_values_and_types(
    server: FakeProviderServer, start_server: StartServer
) -> None:
    url = start_server(_media_config(server))
    client = _client(url)
    # null is OpenAI's "the default" for each; size "auto" lets the model choose.
    image = client.images.generate(
        model="openmux/auto", prompt="a red fox", n=None, response_format=None, size="auto"
    )
    assert image.data and image.data[0].b64_json
    assert len(_asked(server)) == 1
    for field, value in (
        ("n", True),
        ("n", 1.5),
        ("size", [64, 64]),
        ("size", "big"),
        ("size", "99999x99999"),  # no model makes it (the fake one took minutes to try)
    ):
        refused = httpx.post(
            f"{url}/images/generations",
            json={"model": "openmux/auto", "prompt": "a red fox", field: value},
            timeout=30,
        )
        assert refused.status_code == 400, (field, value, refused.text)
        assert refused.json()["error"]["param"] == field
    assert len(_asked(server)) == 1


def test_a_transcription_upload_that_is_no_recording_is_refused(
    server: FakeProviderServer, start_server: StartServer
) -> None:
    client = _client(start_server(_media_config(server)))
    picture = io.BytesIO()
    Image.new("RGB", (8, 8)).save(picture, format="PNG")
    for upload in (
        ("notes.txt", b"Meeting notes: ship on Friday.\n", "text/plain"),
        ("memo.wav", picture.getvalue(), "audio/wav"),
        ("empty.wav", b"", "audio/wav"),
    ):
        with pytest.raises(openai.BadRequestError) as refused:
            client.audio.transcriptions.create(model="openmux/auto", file=upload)
        assert refused.value.body["param"] == "file", upload[0]  # type: ignore[index]
    assert _asked(server) == []


def test_another_tasks_model_name_is_refused_before_any_provider(
    media_url: str, server: FakeProviderServer
) -> None:
    client = _client(media_url)
    audio = client.audio.speech.create(model="openmux/tts", input="Hello", voice="alloy").content
    image = client.images.generate(model="openmux/image", prompt="a red fox", size="256x256")
    assert image.data is not None
    asked = len(_asked(server))
    for call in (
        lambda: client.images.generate(model="openmux/chat", prompt="a red fox"),
        lambda: client.images.generate(model="openmux/fanout", prompt="a red fox"),
        lambda: client.audio.speech.create(model="openmux/image", input="Hello", voice="alloy"),
        lambda: client.audio.transcriptions.create(
            model="openmux/tts", file=("hello.wav", audio, "audio/wav")
        ),
        # A chat answer cannot carry vectors: it was answered with text, labelled
        # with the embeddings task.
        lambda: client.chat.completions.create(
            model="openmux/embeddings", messages=[{"role": "user", "content": "hi"}]
        ),
    ):
        with pytest.raises(openai.NotFoundError, match="GET /v1/models"):
            call()
    assert len(_asked(server)) == asked


def _streamed_fields(client: OpenAI, model: str) -> dict[str, Any]:
    """The extra fields of every delta of a streamed chat answer, merged."""
    chunks = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "a red fox"}], stream=True
    )
    merged: dict[str, Any] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            merged.update({k: v for k, v in (choice.delta.model_extra or {}).items() if v})
    return merged


def _png_size(data_url: str) -> tuple[int, int]:
    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix)
    with Image.open(io.BytesIO(base64.b64decode(data_url[len(prefix) :]))) as png:
        return png.size


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
def test_a_chat_completion_that_makes_media_carries_it(media_url: str, stream: bool) -> None:
    """A chat request routed to an image or speech model (`openmux/image`, or
    `openmux/auto` for "draw a red fox") made the picture or the sound, spent its free
    allowance, and answered `content: null` with a finish reason of "stop": the media
    was dropped. Images now come as `images` (the field OpenRouter and other gateways
    use for images made through chat completions), speech as OpenAI's `audio`."""
    client = _client(media_url)
    if stream:
        images, speech = _streamed_fields(client, "openmux/image")["images"], None
    else:
        messages: Any = [{"role": "user", "content": "a red fox"}]
        answer = client.chat.completions.create(model="openmux/image", messages=messages)
        images = answer.choices[0].message.model_extra["images"]
        speech = client.chat.completions.create(model="openmux/tts", messages=messages)
    assert images[0]["type"] == "image_url"
    assert _png_size(images[0]["image_url"]["url"])[0] > 0
    if speech is not None:
        audio = speech.choices[0].message.audio
        assert audio is not None
        with wave.open(io.BytesIO(base64.b64decode(audio.data))) as sound:
            assert sound.getnframes() > 0


def test_a_recording_no_model_takes_is_a_413_before_any_provider(
    server: FakeProviderServer, start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test")
    config = {
        "router": {"providers": ["groq"]},
        "providers": {"groq": {"base_url": server.providers["alpha"].base_url}},
    }
    url = start_server(config, max_request_bytes=40 * 1024 * 1024)
    recording = wav(1.0) + bytes(25 * 1024 * 1024)
    response = httpx.post(
        f"{url}/audio/transcriptions",
        data={"model": "openmux/auto"},
        files={"file": ("talk.wav", recording, "audio/wav")},
        timeout=60,
    )
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["param"] == "file"
    assert "26.25 MB" in error["message"] and "26.21 MB" in error["message"], error
    assert [e for e in _asked(server) if e == "transcription"] == []


def _spoken(server: FakeProviderServer) -> list[Any]:
    return [r.json for p in server.providers.values() for r in p.requests if r.endpoint == "speech"]


def test_a_chat_completion_for_speech_takes_openai_audio_options(
    media_url: str, server: FakeProviderServer
) -> None:
    client = _client(media_url)
    answer = client.chat.completions.create(
        model="openmux/tts",
        messages=[{"role": "user", "content": "Hello there"}],
        modalities=["text", "audio"],
        audio={"voice": "nova", "format": "mp3"},
    )
    audio = answer.choices[0].message.audio
    assert audio is not None and sniff_mime(base64.b64decode(audio.data)) == "audio/mpeg"
    assert (_spoken(server)[-1]["voice"], _spoken(server)[-1]["response_format"]) == (
        "nova",
        "mp3",
    )


def test_chat_audio_options_openai_refuses_are_refused_before_any_provider(
    media_url: str, server: FakeProviderServer
) -> None:
    messages = [{"role": "user", "content": "Hello there"}]
    for fields, param in (
        ({"audio": "mp3"}, "audio"),
        ({"audio": {"voice": "alloy", "format": "ogg"}}, "audio.format"),
        ({"audio": {"voice": "alloy"}}, "audio.format"),
        ({"audio": {"voice": 5, "format": "mp3"}}, "audio.voice"),
        ({"audio": {"format": "mp3"}}, "audio.voice"),
        ({"modalities": ["text", "audio"]}, "audio"),
        ({"modalities": "audio"}, "modalities"),
        ({"modalities": ["text", "video"]}, "modalities"),
        ({"modalities": [{"type": "audio"}]}, "modalities"),
    ):
        refused = httpx.post(
            f"{media_url}/chat/completions",
            json={"model": "openmux/tts", "messages": messages, **fields},
            timeout=30,
        )
        assert refused.status_code == 400, (fields, refused.text)
        error = refused.json()["error"]
        assert error["param"] == param, (fields, error)
        assert "\n" not in error["message"]
    # A format OpenAI has and no model here makes: refused naming those they make.
    with pytest.raises(openai.BadRequestError, match="mp3") as refused_format:
        _client(media_url).chat.completions.create(
            model="openmux/tts",
            messages=[{"role": "user", "content": "Hello there"}],
            modalities=["text", "audio"],
            audio={"voice": "alloy", "format": "pcm16"},
        )
    assert "pcm16" in str(refused_format.value)
    assert _asked(server) == []


def test_speech_takes_each_response_format_a_model_here_makes(
    media_url: str, server: FakeProviderServer
) -> None:
    client = _client(media_url)
    flac = b"fLaC" + bytes(60)
    server.providers["alpha"].fault = Fault.garbage(flac, content_type="audio/flac")
    speech = client.audio.speech.with_raw_response.create(
        model="openmux/auto", input="Hello", voice="alloy", response_format="flac"
    )
    assert speech.headers["content-type"] == "audio/flac" and speech.content == flac
    assert _spoken(server)[-1]["response_format"] == "flac"
    asked = len(_asked(server))
    # OpenAI's formats no model here makes, and what is no format: refused, naming those made.
    for value in ("aac", "pcm", "ogg", 5, ["mp3"]):
        refused = httpx.post(
            f"{media_url}/audio/speech",
            json={
                "model": "openmux/auto",
                "input": "Hello",
                "voice": "alloy",
                "response_format": value,
            },
            timeout=30,
        )
        assert refused.status_code == 400, (value, refused.text)
        error = refused.json()["error"]
        assert error["param"] == "response_format", (value, error)
        assert "wav" in error["message"] and "\n" not in error["message"], (value, error)
    assert len(_asked(server)) == asked


def test_speech_options_no_model_here_honours_are_refused_naming_the_field(
    media_url: str, server: FakeProviderServer
) -> None:
    # Spoken at the model's own pace, or as a whole file rather than SSE events, the
    # answer would be another than asked for, and the client not told.
    for field, value in (
        ("speed", 2.0),
        ("speed", 10),
        ("speed", "fast"),
        ("speed", True),
        ("stream_format", "sse"),
        ("stream_format", "wav"),
    ):
        refused = httpx.post(
            f"{media_url}/audio/speech",
            json={"model": "openmux/auto", "input": "Hello", "voice": "alloy", field: value},
            timeout=30,
        )
        assert refused.status_code == 400, (field, value, refused.text)
        error = refused.json()["error"]
        assert error["param"] == field and "\n" not in error["message"], (value, error)
    assert _asked(server) == []
    # What asks for nothing else is spoken: OpenAI's defaults, sent by some clients.
    for field, value in (("speed", 1), ("speed", 1.0), ("stream_format", "audio")):
        spoken = httpx.post(
            f"{media_url}/audio/speech",
            json={"model": "openmux/auto", "input": "Hello", "voice": "alloy", field: value},
            timeout=30,
        )
        assert spoken.status_code == 200 and spoken.content[:4] == b"RIFF", (field, value)


def test_image_options_no_model_here_honours_are_refused_naming_the_field(
    media_url: str, server: FakeProviderServer
) -> None:
    # A JPEG or an opaque PNG handed back for them would be saved as what was asked for.
    for field, value in (
        ("output_format", "jpeg"),
        ("output_format", "webp"),
        ("output_compression", 50),
        ("background", "transparent"),
        ("background", "checkered"),
    ):
        refused = httpx.post(
            f"{media_url}/images/generations",
            json={"model": "openmux/auto", "prompt": "a red fox", field: value},
            timeout=30,
        )
        assert refused.status_code == 400, (field, value, refused.text)
        error = refused.json()["error"]
        assert error["param"] == field and "\n" not in error["message"], (value, error)
    assert _asked(server) == []
    for field, value in (("background", "auto"), ("background", "opaque")):
        made = httpx.post(
            f"{media_url}/images/generations",
            json={"model": "openmux/auto", "prompt": "a red fox", field: value},
            timeout=30,
        )
        assert made.status_code == 200, (field, value, made.text)


def test_an_image_answer_names_its_file_format(media_url: str, server: FakeProviderServer) -> None:
    import json

    from openmux.testing._media import jpeg

    client = _client(media_url)
    assert client.images.generate(model="openmux/auto", prompt="a fox").output_format == "png"
    # A model that makes JPEGs: the client must not save them as the PNG it would assume.
    made = {"created": 0, "data": [{"b64_json": base64.b64encode(jpeg(8, 8)).decode()}]}
    server.providers["alpha"].fault = Fault.garbage(
        json.dumps(made), content_type="application/json"
    )
    image = client.images.generate(model="openmux/auto", prompt="a fox")
    assert image.output_format == "jpeg"
    assert image.data and sniff_mime(base64.b64decode(image.data[0].b64_json or "")) == "image/jpeg"
