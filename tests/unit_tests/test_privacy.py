"""PII scrubbing and the audit log."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate

from openmux.config import load_settings
from openmux.errors import ConfigError
from openmux.privacy import (
    AuditLog,
    PrivacySettings,
    audit_request,
    find_pii,
    iban_ok,
    luhn_ok,
    parse_privacy,
    pii_scrubber,
    privacy_of,
    scrub_for_provider,
    scrub_messages,
    scrub_text,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.doe+news@mail.example.org today", "write to [EMAIL] today"),
        ("call +1 415 555 0132 now", "call [PHONE] now"),
        ("call (020) 7946 0958", "call [PHONE]"),
        ("+447700900123", "[PHONE]"),
        ("card 4111 1111 1111 1111 ok", "card [CARD] ok"),
        ("card 5500-0000-0000-0004", "card [CARD]"),
        ("iban GB82 WEST 1234 5698 7654 32", "iban [IBAN]"),
        ("iban DE89370400440532013000.", "iban [IBAN]."),
    ],
)
def test_scrub_text_finds_pii(text: str, expected: str) -> None:
    assert scrub_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "released on 2024-01-15 as version 1.2.3.4",
        "order 12345678 shipped; pi is 3.14159265",
        "card-like but not Luhn: 4111 1111 1111 1112",
        "not an IBAN: GB00WEST12345698765432",
        "def f(x): return x * 1000 + 42",
        "see https://example.com/path?q=1",
        "the port is 8080 and the ip 192.168.100.200",
    ],
)
def test_scrub_text_leaves_ordinary_text(text: str) -> None:
    assert scrub_text(text) == text


def test_kinds_are_configurable() -> None:
    text = "mail a@b.io, call +44 20 7946 0958"
    assert scrub_text(text, ["email"]) == "mail [EMAIL], call +44 20 7946 0958"
    assert find_pii(text) == [("email", "a@b.io"), ("phone", "+44 20 7946 0958")]
    with pytest.raises(ValueError, match="unknown PII"):
        scrub_text(text, ["ssn"])


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82WEST12345698765432") and not iban_ok("GB82WEST12345698765433")


def test_scrub_messages_copies_text_and_blocks() -> None:
    original = [
        SystemMessage("be brief"),
        HumanMessage(
            [
                {"type": "text", "text": "my mail is a@b.io"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ]
        ),
        AIMessage("noted, a@b.io"),
    ]
    scrubbed = scrub_messages(original)
    assert scrubbed[0] is original[0]
    assert scrubbed[1].content[0] == {"type": "text", "text": "my mail is [EMAIL]"}  # type: ignore[index]
    assert scrubbed[1].content[1] == original[1].content[1]  # type: ignore[index]
    assert scrubbed[2].content == "noted, [EMAIL]"
    assert original[2].content == "noted, a@b.io"


def test_scrub_messages_reaches_tool_call_arguments() -> None:
    # The user's address was scrubbed from their turn and sent as it was in the call the
    # model made with it, and in a call whose arguments were not JSON.
    call = {"name": "send", "args": {"to": ["a@b.io"], "n": 2}, "id": "c1", "type": "tool_call"}
    broken = {
        "name": "send",
        "args": '{"to": "a@b.io"',
        "id": "c2",
        "error": None,
        "type": "invalid_tool_call",
    }
    original = [
        HumanMessage("mail a@b.io"),
        AIMessage("", tool_calls=[call], invalid_tool_calls=[broken]),
    ]
    scrubbed = scrub_messages(original)
    sent = scrubbed[1]
    assert isinstance(sent, AIMessage)
    assert sent.tool_calls[0]["args"] == {"to": ["[EMAIL]"], "n": 2}
    assert sent.invalid_tool_calls[0]["args"] == '{"to": "[EMAIL]"'
    assert original[1].tool_calls[0]["args"]["to"] == ["a@b.io"]  # type: ignore[attr-defined]


def test_scrub_for_provider_only_for_remote_providers() -> None:
    settings = load_settings(
        {"providers": {"near": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1"}}}
    )
    messages = [HumanMessage("mail a@b.io")]
    on = PrivacySettings(scrub_pii=True)
    remote = settings.providers["groq"]
    local = settings.providers["near"]
    assert scrub_for_provider(on, remote, messages)[0].content == "mail [EMAIL]"
    assert scrub_for_provider(on, local, messages)[0].content == "mail a@b.io"
    assert scrub_for_provider(PrivacySettings(), remote, messages)[0].content == "mail a@b.io"
    assert scrub_for_provider(None, remote, messages)[0].content == "mail a@b.io"


def test_scrubber_runnable_in_a_chain() -> None:
    prompt = ChatPromptTemplate.from_messages([("human", "{q}")])
    chain = prompt | pii_scrubber(["card"])
    out = chain.invoke({"q": "pay with 4111 1111 1111 1111"})
    assert out[0].content == "pay with [CARD]"
    assert pii_scrubber().invoke("x@y.io") == "[EMAIL]"


def test_parse_privacy(tmp_path: Path) -> None:
    parsed = parse_privacy(
        {"audit_log": "logs/a.jsonl", "scrub_pii": True, "scrub_kinds": ["email"]},
        base_dir=tmp_path,
    )
    assert parsed == PrivacySettings(
        audit_log=tmp_path / "logs" / "a.jsonl", scrub_pii=True, scrub_kinds=("email",)
    )
    assert parse_privacy({"audit_log": ""}, current=parsed).audit_log is None


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"scrub_pi": True}, "did you mean `scrub_pii`"),
        ({"scrub_pii": "yes"}, "true or false"),
        ({"scrub_kinds": ["email", "ssn"]}, "unknown kind"),
        ({"audit_log": 3}, "file path"),
    ],
)
def test_parse_privacy_errors(table: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_privacy(table)


def test_privacy_of_settings_without_a_table() -> None:
    assert privacy_of(load_settings()) == PrivacySettings()


META = {
    "task": "chat",
    "provider": "groq",
    "model": "llama",
    "latency_ms": 12.5,
    "attempts": [
        {
            "provider": "openrouter",
            "model": "m1",
            "status": "rate_limited",
            "error": "HTTP 429 for key sk-or-v1-auditleak0123456789",
            "latency_ms": 3.0,
        },
        {"provider": "groq", "model": "llama", "status": "ok", "error": None, "latency_ms": 9.0},
    ],
}
USAGE = {"input_tokens": 7, "output_tokens": 5, "total_tokens": 12}


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_audit_log_lines_without_prompts(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "log.jsonl"
    AuditLog(path).record_request(META, USAGE, [HumanMessage("secret plans")])
    lines = _lines(path)
    assert [(r["provider"], r["status"]) for r in lines] == [
        ("openrouter", "rate_limited"),
        ("groq", "ok"),
    ]
    assert lines[0]["request"] == lines[1]["request"]
    assert lines[1]["total_tokens"] == 12 and "total_tokens" not in lines[0]
    assert set(lines[1]) >= {"time", "task", "model", "latency_ms"}
    text = path.read_text()
    assert "secret plans" not in text
    assert "auditleak" not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_audit_log_with_prompts_and_the_settings_switch(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    audit_request(PrivacySettings(), META, USAGE)
    assert not path.exists()
    privacy = PrivacySettings(audit_log=path, audit_prompts=True)
    audit_request(privacy, META, USAGE, [HumanMessage("hello there")])
    audit_request(privacy, {"task": "chat", "attempts": []}, None, None)
    lines = _lines(path)
    assert lines[0]["prompt"] == "human: hello there"
    assert lines[-1]["status"] == "none"


def test_audit_log_write_failure_does_not_raise(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    AuditLog(blocker / "log.jsonl").record_request(META, USAGE)
