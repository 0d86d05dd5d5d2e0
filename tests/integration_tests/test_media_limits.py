"""Recordings larger than a transcription model takes, against the loopback fake: a model
that cannot take one is skipped with the reason (and benched for nothing), and one no
model can take is refused before it is read whole, in one line naming both sizes."""

from __future__ import annotations

import json
import socket
import struct
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from openmux import NoProviderAvailable, speak, transcribe
from openmux.testing import FakeProvider, FakeProviderServer
from openmux.testing._media import wav
from tests.helpers import run_cli

PROVIDERS: dict[str, dict[str, Any]] = {"groq": dict(models=["c"]), "first": dict(models=["c"])}

GROQ_LIMIT = 25 * 1024 * 1024  # OpenAI's and Groq's 25 MB a file


def large_wav(path: Path, size: int) -> Path:
    """A 16 kHz mono WAV of `size` bytes whose header declares every frame: its samples
    are a sparse file's zeros, so it takes no disk and no time to write."""
    frames = size - 44
    header = b"RIFF" + struct.pack("<I", size - 8) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, 16_000, 32_000, 2, 16)
    header += b"data" + struct.pack("<I", frames)
    with path.open("wb") as out:
        out.write(header)
        out.truncate(size)
    return path


@pytest.fixture
def groq(server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test")
    return server.providers["groq"]


def _config(server: FakeProviderServer, *names: str) -> dict[str, Any]:
    first = server.providers["first"]
    tables = {
        "groq": {"base_url": server.providers["groq"].base_url},
        "first": {
            "protocol": "openai",
            "base_url": first.base_url,
            "free": True,
            "transcription_models": ["whisper-1"],
        },
    }
    return {"router": {"providers": list(names)}, "providers": {n: tables[n] for n in names}}


def test_a_recording_no_model_takes_is_refused_before_it_is_read(
    server: FakeProviderServer, groq: FakeProvider, tmp_path: Path
) -> None:
    recording = large_wav(tmp_path / "meeting.wav", 40_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"meeting\.wav") as refused:
            transcribe(recording, config=_config(server, "groq"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(refused.value)
    assert "40.0 MB" in message and "26.2 MB" in message, message
    assert "\n" not in message
    assert peak < 10_000_000, peak  # a read, let alone its base64, would be 40 MB and more
    with pytest.raises(ValueError, match=r"26\.21 MB"):
        transcribe(wav(1.0) + bytes(GROQ_LIMIT), config=_config(server, "groq"))
    assert [r for r in groq.requests if r.endpoint == "transcription"] == []


def test_a_model_that_cannot_take_the_recording_is_skipped_not_benched(
    server: FakeProviderServer, groq: FakeProvider
) -> None:
    recording = wav(1.0) + bytes(GROQ_LIMIT)
    answer = transcribe(recording, config=_config(server, "groq", "first"))
    assert answer.text == "Transcript from first."
    skipped = answer.metadata["attempts"][:-1]
    assert [a["model"] for a in skipped] == ["whisper-large-v3-turbo", "whisper-large-v3"]
    for attempt in skipped:
        assert attempt["status"] == "context_length"
        assert "26.21 MB" in attempt["error"], attempt
    assert [r for r in groq.requests if r.endpoint == "transcription"] == []
    # Not benched: a recording it takes goes straight to it.
    again = transcribe(wav(1.0), config=_config(server, "groq", "first")).metadata["attempts"]
    assert [(a["provider"], a["status"]) for a in again] == [("groq", "ok")]


def test_the_cli_refuses_a_recording_too_large_in_one_line(
    server: FakeProviderServer, groq: FakeProvider, clean_environment: Path
) -> None:
    config = clean_environment / "openmux.toml"
    groq_url = json.dumps(server.providers["groq"].base_url)
    toml = f'[router]\nproviders = ["groq"]\n\n[providers.groq]\nbase_url = {groq_url}\n'
    config.write_text(toml, encoding="utf-8")
    large_wav(clean_environment / "talk.wav", 30_000_000)
    result = run_cli("transcribe", "talk.wav", timeout=120)
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "30.0 MB" in result.stderr and "26.2 MB" in result.stderr, result.stderr
    assert [r for r in groq.requests if r.endpoint == "transcription"] == []


def test_the_chat_path_names_the_limit_when_no_model_takes_the_recording(
    server: FakeProviderServer, groq: FakeProvider
) -> None:
    import base64

    from langchain_core.messages import HumanMessage

    from openmux import ChatOpenMux

    encoded = base64.b64encode(wav(1.0) + bytes(GROQ_LIMIT)).decode("ascii")
    turn = HumanMessage(content=[{"type": "audio", "base64": encoded, "mime_type": "audio/wav"}])
    with pytest.raises(NoProviderAvailable, match=r"26\.21 MB"):
        ChatOpenMux(config=_config(server, "groq")).invoke([turn], task="audio")
    assert [r for r in groq.requests if r.endpoint == "transcription"] == []


def test_a_recording_is_held_in_memory_no_more_than_it_must_be(tmp_path: Path) -> None:
    # A bound socket that never listens: the upload is built, then refused at connect.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/v1"
        table = {"protocol": "openai", "base_url": url, "free": True}
        config = {
            "router": {"providers": ["nobody"]},
            "providers": {"nobody": {**table, "transcription_models": ["whisper-1"]}},
        }
        with pytest.raises(NoProviderAvailable):  # every module the call path loads, loaded
            transcribe(wav(0.5), config=config, max_attempts=1)
        recording = large_wav(tmp_path / "memo.wav", 30_000_000)
        tracemalloc.start()
        try:
            with pytest.raises(NoProviderAvailable, match="connection"):
                transcribe(recording, config=config, max_attempts=1)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # The file is not held beside both forms of its base64, nor the base64 text copied to
    # bytes to be decoded: each cost it as much again (3.7 times the file; now 3, when the
    # standard library's encoder holds the file and twice its base64 for a moment).
    assert peak / 30_000_000 < 3.2, peak


def test_text_longer_than_speech_models_take_is_refused_before_any_provider(
    server: FakeProviderServer, clean_environment: Path
) -> None:
    first = server.providers["first"]
    table = {"protocol": "openai", "base_url": first.base_url, "free": True}
    config = {
        "router": {"providers": ["first"]},
        "providers": {"first": {**table, "speech_models": ["tts-1"]}},
    }
    long_text = "word " * 1000
    with pytest.raises(ValueError, match="4096") as refused:
        speak(long_text, config=config)
    assert "5000 characters" in str(refused.value)
    toml = '[router]\nproviders = ["first"]\n\n[providers.first]\nprotocol = "openai"\n'
    toml += f'base_url = {json.dumps(first.base_url)}\nfree = true\nspeech_models = ["tts-1"]\n'
    (clean_environment / "openmux.toml").write_text(toml, encoding="utf-8")
    result = run_cli("speak", long_text, "-o", "long.wav", timeout=120)
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "4096" in result.stderr, result.stderr
    assert [r for r in first.requests if r.endpoint == "speech"] == []
