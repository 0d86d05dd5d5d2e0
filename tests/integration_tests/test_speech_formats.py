"""The audio format a speech request names is a capability: only a model making it is
asked, one making the preferred format first, and a format no model here makes is refused
before any provider. Each provider's real speech wire, against the loopback fake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from openmux import speak
from openmux.errors import AudioFormatUnavailable, InvalidRequest
from openmux.providers import sniff_mime
from openmux.testing import FakeProvider, FakeProviderServer, Fault

PROVIDERS: dict[str, dict[str, Any]] = {
    "gem": dict(models=["gemini-2.5-flash"]),
    "cf": dict(models=["@cf/meta/llama-3.1-8b-instruct"]),
    "groq": dict(models=["llama-3.1-8b-instant"]),
    "first": dict(models=["chat-1"]),
}

HELLO = "Hello in the format asked for."


@pytest.fixture(autouse=True)
def keys(clean_environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "gem-key")
    monkeypatch.setenv("GROQ_API_KEY", "groq-key")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "cf-token")
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "acct-7")


def _tables(server: FakeProviderServer) -> dict[str, dict[str, Any]]:
    p = server.providers
    return {
        "gemini": {"base_url": p["gem"].gemini_base_url},
        "groq": {"base_url": p["groq"].base_url},
        "cloudflare": {"base_url": p["cf"].cloudflare_base_url("{account_id}")},
        "first": {
            "protocol": "openai",
            "base_url": p["first"].base_url,
            "free": True,
            "speech_models": ["tts-1"],
        },
    }


def _config(server: FakeProviderServer, *names: str) -> dict[str, Any]:
    tables = _tables(server)
    return {"router": {"providers": list(names)}, "providers": {n: tables[n] for n in names}}


def _spoken(provider: FakeProvider) -> list[Any]:
    return [r for r in provider.requests if r.endpoint in ("speech", "run")]


def test_mp3_asked_for_skips_the_models_making_wav(server: FakeProviderServer) -> None:
    config = _config(server, "gemini", "groq", "cloudflare")
    sound = speak(HELLO, audio_format="mp3", config=config)
    assert sound.mime_type == "audio/mpeg" and sound.suffix == ".mp3"
    assert sound.metadata["provider"] == "cloudflare"
    # Gemini answers PCM (wrapped in a WAV), Groq's Orpheus WAV alone: neither is sent a byte.
    assert _spoken(server.providers["gem"]) == [] and _spoken(server.providers["groq"]) == []
    skipped = sound.metadata["attempts"][:2]
    assert [(a["provider"], a["status"]) for a in skipped] == [
        ("gemini", "http_4xx"),
        ("groq", "http_4xx"),
    ]
    assert all("makes wav" in a["error"] and "not sent" in a["error"] for a in skipped)


def test_wav_asked_for_skips_the_models_making_mp3(server: FakeProviderServer) -> None:
    config = _config(server, "cloudflare", "gemini")
    sound = speak(HELLO, audio_format="wav", config=config)
    assert sound.mime_type == "audio/wav" and sound.metadata["provider"] == "gemini"
    assert _spoken(server.providers["cf"]) == []


def test_an_openai_style_model_is_asked_for_the_format(server: FakeProviderServer) -> None:
    config = _config(server, "gemini", "first")
    sound = speak(HELLO, audio_format="MP3", config=config)  # a format's name in any case
    assert sound.mime_type == "audio/mpeg" and sound.metadata["provider"] == "first"
    assert _spoken(server.providers["first"])[-1].json["response_format"] == "mp3"


def test_a_format_no_model_here_makes_is_refused_before_any_provider(
    server: FakeProviderServer,
) -> None:
    config = _config(server, "gemini", "groq")
    with pytest.raises(AudioFormatUnavailable) as refused:
        speak(HELLO, audio_format="mp3", config=config)
    assert isinstance(refused.value, InvalidRequest) and isinstance(refused.value, ValueError)
    message = str(refused.value)
    assert "\n" not in message and "mp3" in message and "wav" in message
    assert all(_spoken(p) == [] for p in server.providers.values())
    with pytest.raises(AudioFormatUnavailable, match="aac"):
        speak(HELLO, audio_format="aac", config=_config(server, "first"))
    assert _spoken(server.providers["first"]) == []


def test_no_format_named_takes_what_the_first_model_makes(server: FakeProviderServer) -> None:
    sound = speak(HELLO, config=_config(server, "cloudflare", "gemini"))
    assert sound.mime_type == "audio/mpeg" and sound.metadata["attempts"][0]["status"] == "ok"


def test_formats_in_order_of_preference(server: FakeProviderServer) -> None:
    config = _config(server, "gemini", "cloudflare")
    sound = speak(HELLO, audio_format=["mp3", "wav"], config=config)
    assert sound.metadata["provider"] == "cloudflare"  # it makes the preferred one
    assert _spoken(server.providers["gem"]) == []
    # The preferred format's models fail: one making the other format answers.
    server.providers["cf"].fault = Fault.status(503)
    sound = speak(HELLO, audio_format=["mp3", "wav"], config=config)
    assert sound.mime_type == "audio/wav" and sound.metadata["provider"] == "gemini"


def test_offline_speech_in_mp3_is_refused_naming_wav() -> None:
    pytest.importorskip("espeakng_loader")
    with pytest.raises(AudioFormatUnavailable, match="wav"):
        speak(HELLO, audio_format="mp3", offline=True)
    assert speak(HELLO, audio_format="wav", offline=True).mime_type == "audio/wav"


# -- the CLI ------------------------------------------------------------------------------


def _write_config(folder: Path, server: FakeProviderServer, *names: str) -> None:
    import json

    lines = [f"[router]\nproviders = {json.dumps(list(names))}\n"]
    for name, table in _tables(server).items():
        if name in names:
            lines.append(f"[providers.{name}]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    (folder / "openmux.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_cli_prefers_a_model_making_the_suffix_format(
    server: FakeProviderServer, clean_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from openmux.cli import main

    _write_config(clean_environment, server, "gemini", "cloudflare")
    assert main(["speak", "hello there", "-o", "hello.mp3"]) == 0
    assert sniff_mime((clean_environment / "hello.mp3").read_bytes()) == "audio/mpeg"
    assert "MP3, not" not in capsys.readouterr().err
    assert main(["speak", "hello there", "-o", "hello.wav"]) == 0
    assert (clean_environment / "hello.wav").read_bytes()[:4] == b"RIFF"


def test_cli_format_no_model_makes_is_one_line(
    server: FakeProviderServer, clean_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from openmux.cli import main

    _write_config(clean_environment, server, "gemini")
    assert main(["speak", "hello", "-o", "hello.wav", "--format", "mp3"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("openmux: ") and "wav" in err
    assert not (clean_environment / "hello.wav").exists()
    assert _spoken(server.providers["gem"]) == []
    # Named by -o's suffix alone, a format is preferred, not required.
    assert main(["speak", "hello", "-o", "hello.mp3"]) == 0
    assert (clean_environment / "hello.wav").read_bytes()[:4] == b"RIFF"


def test_a_server_answering_another_format_than_asked_is_failed_over(
    server: FakeProviderServer,
) -> None:
    from openmux.testing._media import wav

    # An OpenAI-style server that ignores response_format and always answers WAV.
    first = server.providers["first"]
    first.fault = Fault.garbage(wav(1.0), content_type="audio/wav")
    config = _config(server, "first", "cloudflare")
    sound = speak(HELLO, audio_format="mp3", config=config)
    assert sound.mime_type == "audio/mpeg" and sound.metadata["provider"] == "cloudflare"
    refused = sound.metadata["attempts"][0]
    assert (refused["provider"], refused["status"]) == ("first", "http_4xx")
    assert "audio/wav" in refused["error"]
    # Not benched for it: asked for no format (or for wav), its WAV is the answer.
    assert speak(HELLO, config=config).metadata["provider"] == "first"
    # A format further down the list of preference is an answer too.
    assert speak(HELLO, audio_format=["mp3", "wav"], config=config).mime_type == "audio/wav"
