"""Media requests a caller got wrong and media answers a provider got wrong, against the
loopback fake: the caller's mistake is named and benches no provider; the provider's
garbage fails over and is never handed back as media."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from openmux import ChatOpenMux, NoProviderAvailable, generate_image, speak, transcribe
from openmux.errors import InvalidRequest
from openmux.testing import FakeProviderServer, Fault

PROVIDERS: dict[str, dict[str, Any]] = {"first": dict(models=["chat-1"])}


def _config(server: FakeProviderServer) -> dict[str, Any]:
    first = server.providers["first"]
    media = {
        "image_models": ["img-1"],
        "speech_models": ["tts-1"],
        "transcription_models": ["whisper-1"],
    }
    table = {"protocol": "openai", "base_url": first.base_url, "free": True, **media}
    return {
        "router": {"providers": ["first"]},
        "providers": {"first": table},
        "timeouts": {"total": 5},  # a rate limit's wait is not what these tests are about
    }


def _audio_turn(block: dict[str, Any]) -> list[HumanMessage]:
    return [HumanMessage(content=[{"type": "text", "text": "Transcribe this"}, block])]


@pytest.mark.parametrize(
    ("ask", "named"),
    [
        (lambda llm: llm.invoke("Draw a cat", task="image", size="big"), "WIDTHxHEIGHT"),
        (
            lambda llm: llm.invoke(
                _audio_turn({"type": "audio", "base64": "@@@", "mime_type": "audio/wav"}),
                task="audio",
            ),
            "base64",
        ),
        (
            lambda llm: llm.invoke(
                _audio_turn({"type": "input_audio", "input_audio": {"data": "@@@"}}),
                task="audio",
            ),
            "base64",
        ),
    ],
    ids=["size", "audio-block", "input-audio"],
)
def test_a_media_request_the_caller_got_wrong_benches_no_model(
    server: FakeProviderServer, ask: Any, named: str
) -> None:
    llm = ChatOpenMux(config=_config(server))
    with pytest.raises(InvalidRequest, match=named) as caught:  # a NoProviderAvailable too
        ask(llm)
    assert isinstance(caught.value, NoProviderAvailable)
    assert "bad_response" not in str(caught.value)
    assert [r for r in server.providers["first"].requests if r.endpoint != "models"] == []
    # The models are as healthy as before: the next good request is answered at once.
    image = llm.invoke("Draw a cat", task="image")
    assert [a["status"] for a in image.response_metadata["openmux"]["attempts"]] == ["ok"]


_REFUSAL = "Your request was rejected as a result of our safety system"


def test_a_refusal_says_what_the_provider_said(server: FakeProviderServer) -> None:
    server.providers["first"].fault = Fault.status(400, message=_REFUSAL)
    with pytest.raises(NoProviderAvailable, match=_REFUSAL) as caught:
        generate_image("a cat", config=_config(server))
    assert caught.value.attempts[0]["status"] == "content_policy"
    assert _REFUSAL in caught.value.attempts[0]["error"]


def test_a_rate_limit_keeps_what_it_says_about_the_quota(server: FakeProviderServer) -> None:
    server.providers["first"].fault = Fault.status(
        429, message="Rate limit reached for requests per day (RPD): Limit 100", retry_after=60
    )
    with pytest.raises(NoProviderAvailable, match="per day") as caught:
        speak("Hello there", config=_config(server))
    assert caught.value.attempts[0]["status"] == "rate_limited"


@pytest.mark.parametrize("make", [generate_image, speak], ids=["json-answer", "binary-answer"])
def test_an_error_inside_a_200_is_the_error_it_names(server: FakeProviderServer, make: Any) -> None:
    server.providers["first"].fault = Fault.error_body(429, "Rate limit exceeded: per-day limit")
    with pytest.raises(NoProviderAvailable, match="per-day limit") as caught:
        make("a lighthouse at dawn", config=_config(server))
    assert caught.value.attempts[0]["status"] == "rate_limited"


def test_a_recording_of_no_sound_is_refused_before_any_provider(
    server: FakeProviderServer,
) -> None:
    from openmux.testing._media import wav

    streamed = bytearray(wav(0.0))
    streamed[-4:] = b"\xff\xff\xff\xff"  # a stream's header, with no frame after it
    for empty in (wav(0.0), bytes(streamed)):
        with pytest.raises(ValueError, match="no sound"):
            transcribe(empty, config=_config(server))
    assert [r for r in server.providers["first"].requests if r.endpoint != "models"] == []


def test_media_options_given_to_a_text_answer_are_not_sent_to_the_chat_model(
    server: FakeProviderServer,
) -> None:
    # They say how to make media; classification found text, so there is none to make.
    llm = ChatOpenMux(config=_config(server)).bind(
        voice="alloy", audio_format=["mp3", "wav"], size="1x1", language="fr"
    )
    answer = llm.invoke("hi there")
    assert answer.text and answer.response_metadata["openmux"]["task"] == "chat"
    assert "".join(chunk.text for chunk in llm.stream("hi there")) == answer.text
    sent = [r.json for r in server.providers["first"].requests if r.endpoint == "chat"]
    assert len(sent) == 2
    assert not {"voice", "audio_format", "size", "language"} & {k for b in sent for k in b}
    # For a media answer they are the model's options still.
    llm.invoke("Read this aloud: hi there", task="tts")
    spoken = [r.json for r in server.providers["first"].requests if r.endpoint == "speech"]
    assert (spoken[-1]["voice"], spoken[-1]["response_format"]) == ("alloy", "mp3")
