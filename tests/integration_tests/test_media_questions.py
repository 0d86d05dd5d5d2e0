"""A question about a recording: transcribed by a transcription model, then answered by
a chat model from the transcript; a request for the words gets the transcript itself."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from openmux import ChatOpenMux
from openmux.routing._listen import ANSWERED_FROM_TRANSCRIPT
from openmux.testing import FakeProviderServer
from openmux.testing._media import multipart_form, wav

PROVIDERS = {"fake": dict(models=["chat-1"])}
TRANSCRIPT = "please call me back before noon"


def _config(server: FakeProviderServer) -> dict[str, Any]:
    fake = server.providers["fake"]
    fake.transcript = TRANSCRIPT
    table = {
        "protocol": "openai",
        "base_url": fake.base_url,
        "free": True,
        "models": ["chat-1"],
        "transcription_models": ["whisper-1"],
    }
    return {"router": {"providers": ["fake"]}, "providers": {"fake": table}}


def _message(question: str, block_type: str = "audio") -> HumanMessage:
    data = base64.b64encode(wav(1.0)).decode()
    recording: dict[str, Any] = (
        {"type": "audio", "base64": data, "mime_type": "audio/wav"}
        if block_type == "audio"
        else {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}
    )
    return HumanMessage(content=[{"type": "text", "text": question}, recording])


def _sent_to_chat(server: FakeProviderServer) -> str:
    chat = [r for r in server.providers["fake"].requests if r.endpoint == "chat"][-1]
    return str(chat.json["messages"][-1]["content"])


@pytest.mark.parametrize("block_type", ["audio", "input_audio"])
def test_a_question_about_a_recording_is_answered_from_its_transcript(
    server: FakeProviderServer, block_type: str
) -> None:
    answer = ChatOpenMux(config=_config(server)).invoke(
        [_message("What does the caller want from me?", block_type)]
    )
    endpoints = [r.endpoint for r in server.providers["fake"].requests]
    assert endpoints == ["transcription", "chat"]
    sent = _sent_to_chat(server)
    assert TRANSCRIPT in sent and "What does the caller want from me?" in sent
    assert "base64" not in sent and "input_audio" not in sent
    meta = answer.response_metadata["openmux"]
    assert meta["model"] == "chat-1"
    assert [(a["model"], a["status"]) for a in meta["attempts"]] == [
        ("whisper-1", "ok"),
        ("chat-1", "ok"),
    ]
    assert meta["attempts"][0]["units"]["audio_seconds"] == pytest.approx(1.0)
    assert meta["considered"]["answered_with"] == "text"
    assert meta["considered"]["why"] == ANSWERED_FROM_TRANSCRIPT


async def test_async_and_streamed_questions_take_the_same_path(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=_config(server))
    answer = await llm.ainvoke([_message("Is the caller in a hurry?")])
    assert answer.response_metadata["openmux"]["model"] == "chat-1"
    assert TRANSCRIPT in _sent_to_chat(server)
    chunks = [chunk async for chunk in llm.astream([_message("Summarise the message.")])]
    assert "".join(str(c.content) for c in chunks).strip()
    streamed = [c.text for c in llm.stream([_message("Who is calling?")])]
    assert "".join(streamed).strip()
    endpoints = [r.endpoint for r in server.providers["fake"].requests]
    assert endpoints == ["transcription", "chat"] * 3


@pytest.mark.parametrize(
    "request_text", ["Transcribe this recording", "What does he say?", "Write this down"]
)
def test_asking_for_the_words_gets_the_transcript(
    server: FakeProviderServer, request_text: str
) -> None:
    answer = ChatOpenMux(config=_config(server)).invoke([_message(request_text)])
    assert answer.content == TRANSCRIPT
    assert [r.endpoint for r in server.providers["fake"].requests] == ["transcription"]


def test_an_explicit_audio_task_is_never_second_guessed(server: FakeProviderServer) -> None:
    answer = ChatOpenMux(config=_config(server)).invoke(
        [_message("What does the caller want from me?")], task="audio"
    )
    assert answer.content == TRANSCRIPT


async def test_the_callers_language_reaches_the_transcription(server: FakeProviderServer) -> None:
    # Transcription models guess a language from the sound when none is given, and a short
    # recording in French heard as English comes back as English words.
    llm = ChatOpenMux(config=_config(server)).bind(language="fr")
    llm.invoke([_message("What does the caller want from me?")])
    await llm.ainvoke([_message("Is the caller in a hurry?")])
    fake = server.providers["fake"]
    forms = [
        multipart_form(r.headers["content-type"], r.body)
        for r in fake.requests
        if r.endpoint == "transcription"
    ]
    assert [form.get("language") for form in forms] == [(None, b"fr")] * 2
    chats = [r.json for r in fake.requests if r.endpoint == "chat"]
    assert len(chats) == 2 and not any("language" in chat for chat in chats)
