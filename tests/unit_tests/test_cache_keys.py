"""Response cache keys and the particulars a semantic hit must share (no model needed)."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from openmux.cache import CachedAnswer, answer_options, request_key, same_particulars
from openmux.config import load_settings
from openmux.errors import ConfigError

OPTIONS = {"call": {"temperature": 0.2}}


def test_ids_metadata_and_surrounding_whitespace_do_not_change_the_key() -> None:
    def conversation(call_id: str, text: str) -> list:
        return [
            SystemMessage("Be brief."),
            HumanMessage("Weather in Paris?", id="x"),
            AIMessage(
                "",
                tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": call_id}],
                response_metadata={"openmux": {"latency_ms": 12.5}},
            ),
            ToolMessage("sunny", tool_call_id=call_id),
            HumanMessage(text),
        ]

    one = request_key(conversation("call_abc", "And tomorrow?"), OPTIONS)
    other = request_key(conversation("9xYz", [{"type": "text", "text": "And tomorrow? "}]), OPTIONS)
    assert one == other


def test_text_options_and_earlier_turns_change_the_key() -> None:
    base = request_key([HumanMessage("Hi")], OPTIONS)
    assert request_key([HumanMessage("Hello")], OPTIONS).exact != base.exact
    assert request_key([HumanMessage("Hi")], {"call": {"temperature": 0.3}}).exact != base.exact
    earlier = request_key([SystemMessage("Be terse."), HumanMessage("Hi")], OPTIONS)
    assert earlier.exact != base.exact and earlier.scope != base.scope


def test_the_scope_leaves_out_only_the_last_user_text() -> None:
    one = request_key([SystemMessage("S"), HumanMessage("What is 2 + 2?")], OPTIONS)
    other = request_key([SystemMessage("S"), HumanMessage("What's 2 + 2?")], OPTIONS)
    assert one.exact != other.exact and one.scope == other.scope
    assert (one.text, other.text) == ("What is 2 + 2?", "What's 2 + 2?")


def test_delivery_options_are_not_answer_options() -> None:
    kwargs = {"stream": True, "stream_options": {}, "temperature": 0.5, "seed": None}
    assert answer_options(kwargs) == {"temperature": 0.5}


def test_the_cache_table_does_not_change_the_settings_fingerprint() -> None:
    from openmux.config import answer_fingerprint

    off = load_settings()
    on = load_settings({"cache": {"mode": "semantic", "ttl_s": 60}})
    assert on.cache.mode == "semantic" and on.cache.ttl_s == 60
    assert answer_fingerprint(on) == answer_fingerprint(off)


def test_a_kept_answer_reads_back_and_an_unreadable_one_is_a_miss() -> None:
    kept = CachedAnswer.of([AIMessage("hi", id="run-1")], {"provider": "p", "latency_ms": 3})
    again = CachedAnswer.from_bytes(kept.to_bytes())
    assert again is not None and again.routing == {"provider": "p"}
    assert again.message().content == "hi" and again.message().id is None
    assert CachedAnswer.from_bytes(b"not json") is None


def test_particulars() -> None:
    assert same_particulars("What's the capital of France?", "What is the capital of France?")
    assert same_particulars("How do I reverse a list?", "How can I reverse a list?")
    assert not same_particulars("Convert 5 km to miles", "Convert 50 km to miles")
    assert not same_particulars("Is 2,048 a power of two?", "Is 2,047 a power of two?")
    assert not same_particulars("Why do cats purr?", "Why don't cats purr?")
    assert not same_particulars("Dame una receta con azúcar", "Dame una receta sin azúcar")
    assert not same_particulars("赤い果物を挙げて", "赤くない果物を挙げて")
    assert not same_particulars("Capital of France?", "Capital of Spain?")
    assert not same_particulars("Traduis « bonjour » en anglais.", "Traduis « bonjour » en russe.")
    assert not same_particulars("把“早上好”翻译成英语。", "把“早上好”翻译成德语。")
    assert not same_particulars("How a cat sees colours", "How a dog sees colours")
    assert same_particulars("How many legs does a spider have", "How many legs do spiders have")


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ({"mode": "fuzzy"}, "[cache] mode = 'fuzzy' is not a cache mode (fix: use \"off\""),
        ({"ttl_s": 0}, "[cache] ttl_s must be positive"),
        ({"similarity": 2}, "[cache] similarity = 2 is not a cosine similarity"),
        ({"mdoe": "exact"}, "unknown key [cache] `mdoe`"),
    ],
)
def test_a_wrong_cache_table_is_one_clear_line(table: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError) as wrong:
        load_settings({"cache": table})
    assert says in str(wrong.value) and "\n" not in str(wrong.value)
