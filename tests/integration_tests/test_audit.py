"""`[privacy] audit_log`: one JSON line per attempt, written by ChatOpenMux itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from openmux import ChatOpenMux, NoProviderAvailable, TaskClassification, TaskType
from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_config


def _as_chat(_: Any) -> TaskClassification:
    return TaskClassification(TaskType.CHAT, 0.9, [], "fixed for the test")


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_attempt_is_audited_without_prompt_text(
    fake_provider_server: FakeProviderServer, tmp_path: Path
) -> None:
    bad = fake_provider_server.add_provider("bad", models=["m-bad"])
    good = fake_provider_server.add_provider("good", models=["m-good"])
    bad.fault = Fault.status(500)
    log = tmp_path / "audit.jsonl"
    config = provider_config(bad, good)
    config["privacy"] = {"audit_log": str(log)}
    llm = ChatOpenMux(config=config, classifier=_as_chat)

    llm.invoke("a secret question about my health")
    "".join(c.text for c in llm.stream("another question"))
    lines = _lines(log)
    statuses = [(r["provider"], r["status"]) for r in lines]
    # Each request: bad fails (a 500 is retried once on the same provider), good answers.
    assert [s for s in statuses if s[0] == "good"] == [("good", "ok"), ("good", "ok")]
    assert {s for s in statuses if s[0] == "bad"} == {("bad", "http_5xx")}
    ok = next(r for r in lines if r["status"] == "ok")
    assert ok["task"] == "chat" and ok["total_tokens"] > 0
    assert "secret question" not in log.read_text(encoding="utf-8")

    good.fault = Fault.status(500)
    with pytest.raises(NoProviderAvailable):
        ChatOpenMux(config={**config, "timeouts": {"total": 1}}, classifier=_as_chat).invoke("hi")
    failed = _lines(log)[len(lines) :]
    assert failed and {r["status"] for r in failed} <= {"http_5xx", "circuit_open"}
