"""The classifier's optional second tier: a chat model labels requests the classifier is
unsure of. The labelling model is a loopback fake that always answers one label."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from openmux import ChatOpenMux, ConfigError, TaskClassification, TaskType
from openmux.routing import RouteRequest, plan
from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_config

PROVIDERS = {
    "alpha": dict(models=["shared"], reply="from alpha"),
    "labeler": dict(models=["lbl"], reply="code"),
}


def _unsure(_: Any) -> TaskClassification:
    return TaskClassification(TaskType.CHAT, 0.3, [], "weak chat cues")


def _sure(_: Any) -> TaskClassification:
    return TaskClassification(TaskType.CHAT, 0.9, [], "chat cues")


def _llm(server: FakeProviderServer, classifier: Any = _unsure, **tier: Any) -> ChatOpenMux:
    config = provider_config(server.providers["alpha"], server.providers["labeler"])
    config["classifier"] = {"second_tier": True, "model": "labeler:lbl", **tier}
    return ChatOpenMux(config=config, classifier=classifier)


def _meta(message: Any) -> dict[str, Any]:
    return message.response_metadata["openmux"]


def test_unsure_request_is_labelled_by_the_second_tier(server: FakeProviderServer) -> None:
    answer = _llm(server).invoke("how do closures work")
    meta = _meta(answer)
    assert meta["task"] == "code" and meta["confidence"] == 0.6
    assert answer.content == "from alpha" and meta["provider"] == "alpha"
    assert server.providers["labeler"].hits == 1
    body = server.providers["labeler"].requests[-1].json
    assert body["max_tokens"] == 8 and "max_completion_tokens" not in body
    assert "how do closures work" in str(body["messages"])


async def test_async_requests_ask_it_too(server: FakeProviderServer) -> None:
    answer = await _llm(server).ainvoke("how do closures work")
    assert _meta(answer)["task"] == "code"
    assert server.providers["labeler"].hits == 1


def test_agreement_keeps_the_label_and_says_so(server: FakeProviderServer) -> None:
    server.providers["labeler"].reply = "Chat."
    meta = _meta(_llm(server).invoke("hello there"))
    assert meta["task"] == "chat" and meta["confidence"] == 0.6


def test_sure_requests_and_the_default_settings_never_ask(server: FakeProviderServer) -> None:
    _llm(server, classifier=_sure).invoke("hello")
    _llm(server, threshold=0.2).invoke("hello")
    config = provider_config(server.providers["alpha"], server.providers["labeler"])
    ChatOpenMux(config=config, classifier=_unsure).invoke("hello")
    ChatOpenMux(config=config, classifier=_unsure).invoke("hello", task="chat")
    assert server.providers["labeler"].hits == 0


def test_offline_never_asks(server: FakeProviderServer) -> None:
    config = provider_config(server.providers["alpha"], server.providers["labeler"])
    config["classifier"] = {"second_tier": True, "model": "labeler:lbl"}
    answer = ChatOpenMux(config=config, classifier=_unsure, offline=True).invoke("hello")
    assert _meta(answer)["task"] == "chat"
    assert server.providers["labeler"].hits == 0


@pytest.mark.parametrize(
    ("reply", "fault", "said"),
    [
        ("code", Fault.status(500), "second tier unavailable"),
        ("I am not sure, sorry", None, "second tier gave no label"),
    ],
)
def test_first_tier_stands_when_the_second_fails(
    server: FakeProviderServer, reply: str, fault: Fault | None, said: str
) -> None:
    labeler = server.providers["labeler"]
    labeler.reply, labeler.fault = reply, fault
    llm = _llm(server)
    meta = _meta(llm.invoke("hello"))
    assert meta["task"] == "chat" and meta["confidence"] == 0.3
    assert server.providers["alpha"].hits == 1
    planned = plan(llm.router, RouteRequest([HumanMessage("hello")]))
    assert planned.classification is not None and said in planned.classification.reason


def test_reason_names_the_second_tier() -> None:
    from openmux.classifier._second_tier import SecondTier

    tier = SecondTier(enabled=True, threshold=0.6)
    first = TaskClassification(TaskType.CHAT, 0.3, [], "weak chat cues")
    decided = tier.decide(first, "image", "second tier (p:m)")
    assert decided.task is TaskType.IMAGE and decided.confidence == 0.6
    assert decided.reason.startswith("second tier (p:m) says image")
    assert "unavailable" in tier.decide(first, None, "second tier").reason


@pytest.mark.parametrize(
    ("table", "fix"),
    [
        ({"threshold": 2}, "from 0 to 1"),
        ({"second_tier": "yes"}, "true or false"),
        ({"treshold": 0.5}, "did you mean `threshold`?"),
    ],
)
def test_config_mistakes_name_the_fix(table: dict[str, Any], fix: str) -> None:
    with pytest.raises(ConfigError) as error:
        ChatOpenMux(config={"classifier": table})
    assert fix in str(error.value)
