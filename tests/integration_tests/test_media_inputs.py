"""Chat requests carrying images and recordings go only to models that can be sent them.

The Ollama client takes images only inline (base64) and no audio, and converts a
message in this process: what it cannot send fails before a byte leaves. Selection
leaves such models out, a model pinned by name is ruled out with the reason, and no
healthy provider is benched for what the request holds.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from langchain_core.messages import BaseMessage, HumanMessage

from openmux import ChatOpenMux, NoProviderAvailable
from openmux.testing import FakeProviderServer
from openmux.testing._media import png, wav

# gemma3:4b reads images (the catalog says so); gpt-4o-mini reads images, not audio;
# gemini-2.5-flash reads both.
PROVIDERS = {
    "ollama": dict(models=["gemma3:4b"]),
    "fake": dict(models=["gpt-4o-mini", "gemini-2.5-flash"]),
}

QUESTION = {"type": "text", "text": "What is in this picture?"}
IMAGE_BASE64 = base64.b64encode(png(4, 4)).decode()
RECORDING = {
    "type": "audio",
    "base64": base64.b64encode(wav(0.5)).decode(),
    "mime_type": "audio/wav",
}


def _config(
    server: FakeProviderServer, *names: str, fake_models: tuple[str, ...] = ()
) -> dict[str, Any]:
    ollama, fake = server.providers["ollama"], server.providers["fake"]
    tables = {
        "ollama": {
            "protocol": "ollama",
            "base_url": ollama.ollama_base_url,
            "models": ["gemma3:4b"],
        },
        "fake": {
            "protocol": "openai",
            "base_url": fake.base_url,
            "free": True,
            "models": list(fake_models or fake.models),
        },
    }
    # ordered: Ollama is tried first whenever it is a candidate
    return {
        "router": {"providers": list(names), "strategy": "ordered"},
        "providers": {name: tables[name] for name in names},
    }


def _chats(server: FakeProviderServer, name: str) -> list[dict[str, Any]]:
    return [r.json for r in server.providers[name].requests if r.endpoint == "chat"]


def _route(answer: BaseMessage) -> tuple[str, str, list[tuple[str, str]]]:
    meta = answer.response_metadata["openmux"]
    return meta["provider"], meta["model"], [(a["provider"], a["status"]) for a in meta["attempts"]]


def _benched(llm: ChatOpenMux) -> list[tuple[str, str]]:
    return [(b.provider, b.model) for b in llm.router.health.benches()]


IMAGE_URLS = [
    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    {"type": "image", "url": "https://example.com/cat.png"},
    {"type": "image_url", "image_url": {"url": "/etc/hosts"}},
]


@pytest.mark.parametrize("image", IMAGE_URLS)
def test_an_image_by_url_skips_ollama_which_cannot_send_it(
    server: FakeProviderServer, image: dict[str, Any]
) -> None:
    llm = ChatOpenMux(config=_config(server, "ollama", "fake"))
    answer = llm.invoke([HumanMessage(content=[QUESTION, image])])
    assert _route(answer) == ("fake", "gpt-4o-mini", [("fake", "ok")])
    assert _benched(llm) == []


@pytest.mark.parametrize("image", IMAGE_URLS)
def test_an_image_by_url_at_a_pinned_ollama_model_is_refused_unsent(
    server: FakeProviderServer, image: dict[str, Any]
) -> None:
    llm = ChatOpenMux(config=_config(server, "ollama", "fake"))
    with pytest.raises(NoProviderAvailable) as refused:
        llm.invoke([HumanMessage(content=[QUESTION, image])], model="ollama:gemma3:4b")
    [attempt] = refused.value.attempts  # one, not a round per bench
    assert attempt["status"] == "http_4xx"
    assert "inline" in attempt["error"] and "base64" in attempt["error"]
    assert _chats(server, "ollama") == [] and _benched(llm) == []
    # The same picture sent inline goes to the same model at once.
    inline = {"type": "image", "base64": IMAGE_BASE64, "mime_type": "image/png"}
    answer = llm.invoke([HumanMessage(content=[QUESTION, inline])], model="ollama:gemma3:4b")
    assert _route(answer) == ("ollama", "gemma3:4b", [("ollama", "ok")])


PDF = {
    "type": "file",
    "base64": base64.b64encode(b"%PDF-1.4").decode(),
    "mime_type": "application/pdf",
}


@pytest.mark.parametrize(("part", "named"), [(RECORDING, "audio"), (PDF, "file")])
def test_a_recording_or_file_at_a_pinned_ollama_model_is_refused_unsent(
    server: FakeProviderServer, part: dict[str, Any], named: str
) -> None:
    llm = ChatOpenMux(config=_config(server, "ollama", "fake"))
    listen = [HumanMessage(content=[{"type": "text", "text": "Hello there"}, part])]
    for _ in range(2):  # the second as the first: nothing was benched
        with pytest.raises(NoProviderAvailable) as refused:
            llm.invoke(listen, model="ollama:gemma3:4b", task="chat")
        [attempt] = refused.value.attempts
        assert attempt["status"] == "http_4xx" and named in attempt["error"]
    assert _chats(server, "ollama") == [] and _benched(llm) == []


def test_a_recording_goes_only_to_a_model_that_hears_audio(server: FakeProviderServer) -> None:
    listen = [HumanMessage(content=[{"type": "text", "text": "Hello there"}, RECORDING])]
    llm = ChatOpenMux(config=_config(server, "ollama", "fake"))
    answer = llm.invoke(listen, task="chat")
    assert _route(answer) == ("fake", "gemini-2.5-flash", [("fake", "ok")])
    # None that hears it: one error naming what is missing, before any provider.
    deaf = ChatOpenMux(config=_config(server, "ollama", "fake", fake_models=("gpt-4o-mini",)))
    with pytest.raises(NoProviderAvailable) as refused:
        deaf.invoke(listen, task="chat")
    assert refused.value.attempts == []
    assert "hear audio" in str(refused.value) and "fake:gpt-4o-mini" in str(refused.value)
    assert _chats(server, "ollama") == [] and len(_chats(server, "fake")) == 1
    assert _benched(deaf) == []


def test_an_earlier_image_or_a_tool_result_image_needs_a_vision_model_that_can_be_sent_it(
    server: FakeProviderServer,
) -> None:
    from langchain_core.messages import AIMessage, ToolMessage

    by_url = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    earlier = [
        HumanMessage(content=[QUESTION, by_url]),
        AIMessage(content="A cat."),
        HumanMessage(content="What colour is it?"),
    ]
    tool_result = [
        HumanMessage(content="Take a screenshot and say what it shows"),
        AIMessage(content="", tool_calls=[{"name": "shot", "args": {}, "id": "call_1"}]),
        ToolMessage(content=[by_url], tool_call_id="call_1"),
    ]
    llm = ChatOpenMux(config=_config(server, "ollama", "fake"))
    for conversation in (earlier, tool_result):
        assert _route(llm.invoke(conversation))[:2] == ("fake", "gpt-4o-mini")
    with pytest.raises(NoProviderAvailable) as refused:
        ChatOpenMux(config=_config(server, "ollama")).invoke(earlier)
    assert refused.value.attempts == []
    assert "given by URL" in str(refused.value) and "inline" in str(refused.value)
    assert _chats(server, "ollama") == []


@pytest.mark.parametrize(
    "image",
    [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,///etc/hosts"}},
        {"type": "image", "base64": "///etc/hosts", "mime_type": "image/png"},
    ],
)
def test_inline_image_text_that_names_a_file_here_is_never_read(
    server: FakeProviderServer, image: dict[str, Any]
) -> None:
    """The ollama client reads an image string that is a path of this machine as that file;
    "///etc/hosts" is base64 as well. What the caller wrote is what is sent."""
    llm = ChatOpenMux(config=_config(server, "ollama"))
    llm.invoke([HumanMessage(content=[QUESTION, image])], model="ollama:gemma3:4b")
    [sent] = _chats(server, "ollama")
    assert sent["messages"][-1]["images"] == ["///etc/hosts"]


def test_inline_image_that_is_not_base64_is_the_callers_mistake(
    server: FakeProviderServer,
) -> None:
    from openmux.errors import InvalidRequest

    llm = ChatOpenMux(config=_config(server, "ollama"))
    image = {"type": "image", "base64": "not an image!", "mime_type": "image/png"}
    with pytest.raises(InvalidRequest, match="base64"):
        llm.invoke([HumanMessage(content=[QUESTION, image])], model="ollama:gemma3:4b")
    assert _chats(server, "ollama") == [] and _benched(llm) == []


def test_a_recording_by_url_is_refused_unsent(server: FakeProviderServer) -> None:
    """OpenAI's chat API takes recordings only inline: langchain-openai refuses one given
    by URL in this process, which was read as the model's bad answer and benched it."""
    by_url = {"type": "audio", "url": "https://example.com/call.wav", "mime_type": "audio/wav"}
    listen = [HumanMessage(content=[{"type": "text", "text": "Hello there"}, by_url])]
    llm = ChatOpenMux(config=_config(server, "fake", fake_models=("gemini-2.5-flash",)))
    with pytest.raises(NoProviderAvailable) as refused:
        llm.invoke(listen, task="chat")
    assert refused.value.attempts == [] and "inline" in str(refused.value)
    with pytest.raises(NoProviderAvailable) as pinned:
        llm.invoke(listen, task="chat", model="fake:gemini-2.5-flash")
    [attempt] = pinned.value.attempts
    assert attempt["status"] == "http_4xx" and "given by URL" in attempt["error"]
    assert _chats(server, "fake") == [] and _benched(llm) == []
