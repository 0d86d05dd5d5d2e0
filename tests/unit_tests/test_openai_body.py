"""An OpenAI body sent as it came: the provider's quirks rows, and its errors read without
the SDK."""

from __future__ import annotations

import json

from openmux.config import ProviderSettings, load_settings
from openmux.providers import adapt_openai_body
from openmux.providers._failures import failure_from_status

BODY = {
    "model": "openmux/auto",
    "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc_123456789",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc_123456789", "content": "12 C"},
    ],
    "max_tokens": 10,
    "max_completion_tokens": 50,
    "temperature": 0.2,
}


def provider(name: str) -> ProviderSettings:
    settings = load_settings({"router": {"providers": [name]}}, api_keys={name: "k" * 20})
    return settings.providers[name]


def test_model_swapped_and_max_tokens_under_the_name_every_provider_takes() -> None:
    sent = adapt_openai_body(provider("groq"), "llama-3.3-70b-versatile", BODY)
    assert sent["model"] == "llama-3.3-70b-versatile"
    assert sent["max_tokens"] == 50 and "max_completion_tokens" not in sent
    assert sent["temperature"] == 0.2
    assert sent["messages"] == BODY["messages"]  # ids of any form pass
    assert BODY["model"] == "openmux/auto"  # the caller's body is left as it was


def test_tool_call_ids_in_the_form_mistral_accepts() -> None:
    sent = adapt_openai_body(provider("mistral"), "mistral-small-latest", BODY)
    call_id = sent["messages"][1]["tool_calls"][0]["id"]
    assert len(call_id) == 9 and call_id.isalnum()
    assert sent["messages"][2]["tool_call_id"] == call_id
    assert BODY["messages"][1]["tool_calls"][0]["id"] == "call_abc_123456789"


def test_a_developer_message_is_sent_as_a_system_message() -> None:
    # OpenAI's newer name for the system role: vLLM-based and other compatible servers
    # answer 400 "developer is not one of ['system', 'assistant', 'user', 'tool', ...]".
    body = {**BODY, "messages": [{"role": "developer", "content": "Be brief."}, *BODY["messages"]]}
    out = adapt_openai_body(provider("groq"), "m", body)
    assert out["messages"][0] == {"role": "system", "content": "Be brief."}
    assert out["messages"][1:] == BODY["messages"]


def test_error_responses_become_failures() -> None:
    body = json.dumps({"error": {"message": "Rate limit reached", "code": 429}}).encode()
    limited = failure_from_status(429, {"retry-after": "7"}, body)
    assert (limited.kind, limited.retry_after) == ("rate_limited", 7.0)
    assert "Rate limit reached" in str(limited)
    assert limited.detail == {"message": "Rate limit reached", "code": 429}
    broken = failure_from_status(502, {}, b"<html>Bad gateway</html>")
    assert broken.kind == "http_5xx" and "Bad gateway" in str(broken)
    too_long = failure_from_status(400, {}, b'{"error": {"message": "maximum context length"}}')
    assert too_long.kind == "context_length"
