"""Media against the loopback fake: each wire format, failover and benching, the free rule,
the Cloudflare provider, and the answers checked as real images and sounds."""

from __future__ import annotations

import base64
import io
import wave
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from PIL import Image

from openmux import (
    ChatOpenMux,
    NoProviderAvailable,
    OpenMuxEmbeddings,
    UnsupportedTask,
    generate_image,
    speak,
    transcribe,
)
from openmux.testing import FakeProvider, FakeProviderServer, Fault
from openmux.testing._media import speech_seconds

PROVIDERS: dict[str, dict[str, Any]] = {
    "first": dict(models=["chat-1"]),
    "second": dict(models=["chat-2"]),
    "cf": dict(models=["@cf/meta/llama-3.1-8b-instruct"], embedding_models=["@cf/baai/bge-m3"]),
    "gem": dict(models=["gemini-2.5-flash"]),
    "hf": dict(models=["m"]),
}

HELLO = "Hello from the media tests."


def _openai(provider: FakeProvider, **media: list[str]) -> dict[str, Any]:
    return {"protocol": "openai", "base_url": provider.base_url, "free": True, **media}


def _config(*names: str, **tables: dict[str, Any]) -> dict[str, Any]:
    return {"router": {"providers": list(names)}, "providers": tables}


@pytest.fixture
def cloudflare(server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "cf-token")
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "acct-7")
    return server.providers["cf"]


def _cloudflare_table(provider: FakeProvider) -> dict[str, Any]:
    # The table's own base_url with its {account_id} placeholder, pointed at the fake.
    return {"base_url": provider.cloudflare_base_url("{account_id}")}


def _image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.size


def _wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as sound:
        return sound.getnframes() / sound.getframerate()


def _mp3_seconds(data: bytes) -> float:
    tinytag = pytest.importorskip("tinytag")
    tag = tinytag.TinyTag.get(file_obj=io.BytesIO(data))
    assert tag.duration is not None
    return float(tag.duration)


def _wav_recording() -> bytes:
    from openmux.testing._media import wav

    return wav(1.5)


# -- Cloudflare: chat and embeddings on its OpenAI-compatible endpoints ---------------------


def test_cloudflare_chat_and_embeddings(
    server: FakeProviderServer, cloudflare: FakeProvider
) -> None:
    config = _config("cloudflare", cloudflare=_cloudflare_table(cloudflare))
    answer = ChatOpenMux(config=config).invoke("Say hello", task="chat")
    assert answer.response_metadata["openmux"]["provider"] == "cloudflare"
    vectors = OpenMuxEmbeddings(config=config).embed_documents(["one", "two"])
    assert len(vectors) == 2
    work = [r for r in cloudflare.requests if r.endpoint in ("chat", "embeddings")]
    assert [r.path for r in work] == ["/v1/chat/completions", "/v1/embeddings"]
    assert all(r.headers["authorization"] == "Bearer cf-token" for r in work)


def test_cloudflare_without_its_account_id_names_both_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "cf-token")
    with pytest.raises(UnsupportedTask, match="CLOUDFLARE_ACCOUNT_ID"):
        generate_image("a red square", providers=["cloudflare"])


# -- images ---------------------------------------------------------------------------------


@pytest.mark.parametrize("response", ["b64_json", "url"])
def test_openai_images_come_back_at_the_requested_size(
    server: FakeProviderServer, response: str
) -> None:
    first = server.providers["first"]
    first.image_response = response
    config = _config("first", first=_openai(first, image_models=["img-1"]))
    image = generate_image("a lighthouse at dawn", size="48x32", config=config)
    assert image.mime_type == "image/png"
    assert _image_size(image.data) == (48, 32)
    sent = next(r for r in first.requests if r.endpoint == "image").json
    assert sent == {
        "model": "img-1",
        "prompt": "a lighthouse at dawn",
        "n": 1,
        "response_format": "b64_json",
        "size": "48x32",
    }
    meta = image.metadata
    assert set(meta) >= {"task", "provider", "model", "attempts", "latency_ms", "offline"}
    assert meta["task"] == "image" and meta["provider"] == "first"
    assert meta["attempts"][0]["units"] == {"images": 1}


def test_cloudflare_and_hugging_face_images(
    server: FakeProviderServer, cloudflare: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config("cloudflare", cloudflare=_cloudflare_table(cloudflare))
    image = generate_image("a lighthouse", config=config)
    # flux-1-schnell takes no size and answers {"result": {"image": base64 JPEG}}
    # (developers.cloudflare.com/workers-ai/models/flux-1-schnell, checked 2026-12-04).
    assert image.mime_type == "image/jpeg"
    with Image.open(io.BytesIO(image.data)) as opened:
        assert (opened.format, opened.size, opened.mode) == ("JPEG", (64, 64), "RGB")
        assert opened.getextrema()[0][0] < opened.getextrema()[0][1]
    assert cloudflare.requests[-1].path == "/run/@cf/black-forest-labs/flux-1-schnell"
    assert cloudflare.requests[-1].json == {"prompt": "a lighthouse", "steps": 4}

    monkeypatch.setenv("HF_TOKEN", "hf-token")
    hf = server.providers["hf"]
    config = _config("huggingface", huggingface={"base_url": hf.base_url})
    image = generate_image("a lighthouse", size="40x24", config=config)
    assert _image_size(image.data) == (40, 24)
    assert hf.requests[-1].path == "/hf-inference/models/black-forest-labs/FLUX.1-schnell"


# -- speech ---------------------------------------------------------------------------------


def test_openai_speech_wav_and_mp3(server: FakeProviderServer) -> None:
    first = server.providers["first"]
    config = _config("first", first=_openai(first, speech_models=["tts-1"]))
    sound = speak(HELLO, voice="nova", config=config)
    assert sound.mime_type == "audio/wav"
    assert _wav_seconds(sound.data) == pytest.approx(speech_seconds(HELLO), abs=0.05)
    assert first.requests[-1].json["voice"] == "nova"
    mp3 = speak(HELLO, audio_format="mp3", config=config)
    assert mp3.mime_type == "audio/mpeg"
    assert _mp3_seconds(mp3.data) == pytest.approx(speech_seconds(HELLO), abs=0.1)
    assert mp3.metadata["attempts"][0]["units"]["characters"] == len(HELLO)


def test_cloudflare_melotts_and_aura_speak_mp3(
    server: FakeProviderServer, cloudflare: FakeProvider
) -> None:
    config = _config("cloudflare", cloudflare=_cloudflare_table(cloudflare))
    for model in ("@cf/myshell-ai/melotts", "@cf/deepgram/aura-1"):
        sound = speak(HELLO, config=config, model=f"cloudflare:{model}")
        assert sound.mime_type == "audio/mpeg"
        assert _mp3_seconds(sound.data) == pytest.approx(speech_seconds(HELLO), abs=0.1)
        assert cloudflare.requests[-1].path == f"/run/{model}"


def test_gemini_speech_is_pcm_wrapped_in_a_wav(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "gem-key")
    gem = server.providers["gem"]
    config = _config("gemini", gemini={"base_url": gem.gemini_base_url})
    sound = speak(HELLO, config=config)
    assert _wav_seconds(sound.data) == pytest.approx(speech_seconds(HELLO), abs=0.05)
    sent = gem.requests[-1]
    assert sent.path == "/v1beta/models/gemini-2.5-flash-preview-tts:generateContent"
    assert sent.headers["x-goog-api-key"] == "gem-key"
    assert sent.json["generationConfig"]["responseModalities"] == ["AUDIO"]


# -- transcription --------------------------------------------------------------------------


def test_openai_transcription_is_a_multipart_upload(server: FakeProviderServer) -> None:
    first = server.providers["first"]
    first.transcript = "hello world"
    config = _config("first", first=_openai(first, transcription_models=["whisper-1"]))
    text = transcribe(_wav_recording(), config=config)
    assert text.text == "hello world"
    sent = first.requests[-1]
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert b'name="model"' in sent.body and b"whisper-1" in sent.body
    assert text.metadata["attempts"][0]["units"] == {"audio_seconds": 1.5}


def test_cloudflare_whisper_json_and_binary(
    server: FakeProviderServer, cloudflare: FakeProvider, tmp_path: Any
) -> None:
    config = _config("cloudflare", cloudflare=_cloudflare_table(cloudflare))
    recording = tmp_path / "memo.wav"
    recording.write_bytes(_wav_recording())
    turbo = transcribe(recording, config=config)
    assert turbo.text == "Transcript from cf."
    sent = cloudflare.requests[-1]
    assert base64.b64decode(sent.json["audio"]) == recording.read_bytes()
    transcribe(recording, config=config, model="cloudflare:@cf/openai/whisper")
    assert cloudflare.requests[-1].body == recording.read_bytes()


def test_hugging_face_transcription_sends_raw_bytes(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf-token")
    hf = server.providers["hf"]
    config = _config("huggingface", huggingface={"base_url": hf.base_url})
    assert transcribe(_wav_recording(), config=config).text == "Transcript from hf."
    assert hf.requests[-1].headers["content-type"] == "audio/wav"


# -- failover, benching, errors ---------------------------------------------------------------

_WIRES = {
    "image": (lambda cfg: generate_image("a cat", config=cfg), "image_models"),
    "speech": (lambda cfg: speak(HELLO, config=cfg), "speech_models"),
    "transcription": (lambda cfg: transcribe(_wav_recording(), config=cfg), "transcription_models"),
}


@pytest.mark.parametrize("kind", list(_WIRES))
@pytest.mark.parametrize(
    ("fault", "status"),
    [(Fault.status(429, retry_after=60), "rate_limited"), (Fault.status(500), "http_5xx")],
)
def test_a_failing_provider_fails_over_and_a_rate_limited_one_is_benched(
    server: FakeProviderServer, kind: str, fault: Fault, status: str
) -> None:
    call, key = _WIRES[kind]
    first, second = server.providers["first"], server.providers["second"]
    config = _config(
        "first",
        "second",
        first=_openai(first, **{key: ["m-a"]}),
        second=_openai(second, **{key: ["m-b"]}),
    )
    first.fault = fault
    result = call(config)
    attempts = result.metadata["attempts"]
    assert attempts[0]["status"] == status
    assert attempts[-1]["provider"] == "second" and attempts[-1]["status"] == "ok"
    if status == "rate_limited":
        hits = first.hits
        again = call(config)
        assert again.metadata["attempts"][0]["status"] == "circuit_open"
        assert first.hits == hits  # benched: not asked again


@pytest.mark.parametrize("kind", ["image", "speech", "transcription"])
def test_cloudflare_errors_fail_over(
    server: FakeProviderServer, cloudflare: FakeProvider, kind: str
) -> None:
    call, key = _WIRES[kind]
    second = server.providers["second"]
    config = _config(
        "cloudflare",
        "second",
        cloudflare=_cloudflare_table(cloudflare),
        second=_openai(second, **{key: ["m-b"]}),
    )
    cloudflare.fault = Fault.status(429, retry_after=60)
    attempts = call(config).metadata["attempts"]
    assert attempts[0]["provider"] == "cloudflare" and attempts[0]["status"] == "rate_limited"
    assert attempts[-1]["provider"] == "second"


def test_a_paid_image_model_needs_free_only_off(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", "paid-key")
    first = server.providers["first"]
    # `free = false` spelled out: a loopback address must not make the paid row free.
    config = _config("together", together={"base_url": first.base_url, "free": False})
    with pytest.raises(NoProviderAvailable, match="free_only") as caught:
        generate_image("a cat", config=config)
    assert caught.value.attempts[0]["status"] == "not_free"
    assert first.hits == 0
    image = generate_image("a cat", config=config, free_only=False)
    assert image.metadata["provider"] == "together"


# -- with nothing to serve it ------------------------------------------------------------------


def test_no_image_provider_is_an_unsupported_task_saying_what_to_set() -> None:
    with pytest.raises(UnsupportedTask, match="CLOUDFLARE_API_TOKEN") as caught:
        generate_image("a cat", offline=True)
    assert caught.value.task == "image"
    with pytest.raises(UnsupportedTask, match="GROQ_API_KEY"):
        transcribe(_wav_recording(), offline=True)


def test_video_stays_unsupported_naming_what_would_serve_it() -> None:
    with pytest.raises(UnsupportedTask, match="video") as caught:
        ChatOpenMux(offline=True).invoke("Make a 30-second video of waves", task="other")
    assert caught.value.task == "other"


def test_bad_input_is_one_clear_error(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        generate_image("a cat", size="big")
    with pytest.raises(ValueError, match="no audio file"):
        transcribe(tmp_path / "missing.mp3")
    with pytest.raises(ValueError, match="empty"):
        speak("  ")


# -- ChatOpenMux ------------------------------------------------------------------------------


def test_chat_answers_a_drawing_request_with_an_image_block(server: FakeProviderServer) -> None:
    first = server.providers["first"]
    config = _config("first", first=_openai(first, image_models=["img-1"]))
    answer = ChatOpenMux(config=config).invoke("Draw a cat wearing a space suit")
    [block] = answer.content
    assert isinstance(block, dict) and block["type"] == "image"
    assert block["mime_type"] == "image/png"
    assert _image_size(base64.b64decode(block["base64"])) == (64, 64)
    assert answer.response_metadata["openmux"]["task"] == "image"


def test_chat_transcribes_an_audio_block(server: FakeProviderServer) -> None:
    first = server.providers["first"]
    first.transcript = "the meeting starts at noon"
    config = _config(
        "first", first=_openai(first, models=["chat-1"], transcription_models=["whisper-1"])
    )
    audio = base64.b64encode(_wav_recording()).decode()
    message = HumanMessage(
        content=[
            {"type": "text", "text": "Transcribe this recording"},
            {"type": "audio", "base64": audio, "mime_type": "audio/wav"},
        ]
    )
    answer = ChatOpenMux(config=config).invoke([message], task="audio")
    assert answer.content == "the meeting starts at noon"


# -- offline speech ---------------------------------------------------------------------------


def test_offline_speech_is_a_non_silent_wav() -> None:
    pytest.importorskip("espeakng_loader")
    sound = speak("Offline speech works without a key.", offline=True)
    assert sound.mime_type == "audio/wav"
    assert sound.metadata["provider"] == "local" and sound.metadata["offline"] is True
    with wave.open(io.BytesIO(sound.data)) as wav_file:
        spoken = wav_file.getnframes() / wav_file.getframerate()
        frames = wav_file.readframes(wav_file.getnframes())
    assert 1.0 < spoken < 6.0
    import array

    samples = array.array("h", frames)
    assert max(abs(s) for s in samples) > 1000


def test_streaming_a_drawing_request_yields_the_image_and_its_units(
    server: FakeProviderServer,
) -> None:
    first = server.providers["first"]
    config = _config("first", first=_openai(first, image_models=["img-1"]))
    chunks = list(ChatOpenMux(config=config).stream("Draw a lighthouse", task="image"))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    [block] = [b for b in merged.content if isinstance(b, dict)]
    assert block["type"] == "image"
    assert merged.response_metadata["openmux"]["attempts"][0]["units"] == {"images": 1}


def test_image_input_goes_to_a_vision_model(server: FakeProviderServer) -> None:
    first = server.providers["first"]
    config = _config("first", first=_openai(first, models=["m-1", "gpt-4o-mini"]))
    from openmux.testing._media import png

    image = base64.b64encode(png(8, 8)).decode()
    message = HumanMessage(
        content=[
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image", "base64": image, "mime_type": "image/png"},
        ]
    )
    answer = ChatOpenMux(config=config).invoke([message])
    assert answer.response_metadata["openmux"]["model"] == "gpt-4o-mini"


# -- the Orchestrator and the CLI ---------------------------------------------------------------


def test_orchestrator_lists_the_media(server: FakeProviderServer) -> None:
    from openmux import Orchestrator

    first = server.providers["first"]
    config = _config("first", first=_openai(first, speech_models=["tts-1"]))
    result = Orchestrator(config=config).process("Read this aloud: good morning", task_type="tts")
    [media] = result["media"]
    assert media["type"] == "audio" and media["mime_type"] == "audio/wav" and media["path"] is None
    assert _wav_seconds(base64.b64decode(media["data"])) > 0.5
    assert result["provider"] == "first" and result["task"] == "tts"


def test_cli_verbs_fail_in_one_line(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from openmux.cli import main

    assert main(["transcribe", str(tmp_path / "missing.mp3")]) == 2
    assert main(["image", "a cat", "--size", "huge"]) == 2
    assert main(["image", "a cat"]) == 1
    err = capsys.readouterr().err
    # One line each; an unsupported task adds its "To fix" list below its line.
    lines = [line for line in err.strip().splitlines() if line.startswith("openmux: ")]
    assert len(lines) == 3 and "Traceback" not in err
    assert "no audio file" in lines[0] and "WIDTHxHEIGHT" in lines[1]
    assert "CLOUDFLARE_API_TOKEN" in err.split(lines[2], 1)[1]


@pytest.mark.parametrize(
    ("builtin", "fake", "kind"),
    [
        ("gemini", "gem", "speech"),
        ("huggingface", "hf", "image"),
        ("huggingface", "hf", "transcription"),
    ],
)
def test_gemini_and_hugging_face_errors_fail_over(
    server: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    builtin: str,
    fake: str,
    kind: str,
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "gem-key")
    monkeypatch.setenv("HF_TOKEN", "hf-token")
    call, key = _WIRES[kind]
    failing, second = server.providers[fake], server.providers["second"]
    base_url = failing.gemini_base_url if builtin == "gemini" else failing.base_url
    config = _config(
        builtin,
        "second",
        **{builtin: {"base_url": base_url}},
        second=_openai(second, **{key: ["m"]}),
    )
    failing.fault = Fault.status(429, retry_after=60)
    attempts = call(config).metadata["attempts"]
    assert (attempts[0]["provider"], attempts[0]["status"]) == (builtin, "rate_limited")
    assert attempts[-1]["provider"] == "second"


def test_offline_speech_takes_another_models_voice_name_in_its_stride() -> None:
    pytest.importorskip("espeakng_loader")
    sound = speak("Hello", voice="alloy", offline=True)
    assert _wav_seconds(sound.data) > 0.2


def test_cli_chat_says_what_a_media_answer_is(
    server: FakeProviderServer, clean_environment: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from openmux.cli import main

    first = server.providers["first"]
    (clean_environment / "openmux.toml").write_text(
        '[router]\nproviders = ["first"]\n\n[providers.first]\nprotocol = "openai"\n'
        f'base_url = "{first.base_url}"\nfree = true\nimage_models = ["img-1"]\n',
        encoding="utf-8",
    )
    assert main(["chat", "--json", "--task", "image", "Draw a cat"]) == 0
    [media] = json.loads(capsys.readouterr().out)["media"]
    assert media["type"] == "image" and media["mime_type"] == "image/png"
    assert main(["chat", "--no-stream", "--task", "image", "Draw a cat"]) == 0
    assert "the answer is image" in capsys.readouterr().err


def test_doctor_lists_who_makes_each_media(
    server: FakeProviderServer, clean_environment: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from openmux.cli import main

    first = server.providers["first"]
    (clean_environment / "openmux.toml").write_text(
        '[router]\nproviders = ["first"]\n\n[providers.first]\nprotocol = "openai"\n'
        f'base_url = "{first.base_url}"\nfree = true\nmodels = ["chat-1"]\n'
        'image_models = ["img-1"]\n',
        encoding="utf-8",
    )
    main(["doctor", "--json"])
    media = json.loads(capsys.readouterr().out)["media"]
    assert media["image"] == ["first:img-1"] and media["transcription"] == []
