"""Quotas without a network: the limits table, learning from headers and 429 bodies,
counters and their windows, and the provider facts the table records."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from openmux.config import load_settings
from openmux.config._toml import is_loopback_url
from openmux.errors import ConfigError
from openmux.quotas import (
    BUILTIN_LIMITS,
    Limits,
    QuotaStore,
    exhaustion_from_failure,
    list_price,
    next_reset,
    parse_since,
    readings_from_headers,
    table_limits,
)

if TYPE_CHECKING:
    from openmux.quotas._usage import UsageLog


def test_groq_headers_count_requests_per_day_and_tokens_per_minute() -> None:
    readings = {
        r.limit_name: r
        for r in readings_from_headers(
            "groq",
            {
                "x-ratelimit-limit-requests": "14400",
                "x-ratelimit-remaining-requests": "14370",
                "x-ratelimit-reset-requests": "2m59.56s",
                "x-ratelimit-limit-tokens": "18000",
                "x-ratelimit-remaining-tokens": "17997",
                "x-ratelimit-reset-tokens": "7.66s",
            },
        )
    }
    assert readings["rpd"].limit == 14400 and readings["rpd"].remaining == 14370
    assert readings["rpd"].reset_in == pytest.approx(179.56)
    assert readings["tpm"].limit == 18000 and readings["tpm"].reset_in == pytest.approx(7.66)


def test_cerebras_headers_name_their_window_and_others_default_to_the_minute() -> None:
    cerebras = readings_from_headers(
        "cerebras",
        {
            "x-ratelimit-limit-requests-day": "14400",
            "x-ratelimit-remaining-requests-day": "0",
            "x-ratelimit-reset-requests-day": "33011.38",
            "x-ratelimit-limit-tokens-minute": "60000",
        },
    )
    assert {r.limit_name: r.remaining for r in cerebras} == {"rpd": 0, "tpm": None}
    assert [
        r.limit_name for r in readings_from_headers("x", {"x-ratelimit-limit-requests": "60"})
    ] == ["rpm"]


@pytest.mark.parametrize("value", ["-1", "inf", "1e400", "nan", "1e30", "many"])
def test_a_header_number_no_provider_could_mean_is_no_reading(value: str) -> None:
    readings = readings_from_headers(
        "cerebras",
        {
            "x-ratelimit-limit-requests-minute": value,
            "x-ratelimit-remaining-requests-minute": value,
            "x-ratelimit-limit-requests-day": "14400",
            "x-ratelimit-remaining-requests-day": "14000",
        },
    )
    by_name = {r.limit_name: r for r in readings}
    assert by_name["rpm"].limit is None and by_name["rpm"].remaining is None
    assert (by_name["rpd"].limit, by_name["rpd"].remaining) == (14400, 14000)


GEMINI_MINUTE = [
    {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                            "quotaValue": "10",
                        }
                    ],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "43s"},
            ],
        }
    }
]


def test_gemini_429_bodies_say_which_quota_and_how_long() -> None:
    minute = exhaustion_from_failure("gemini", GEMINI_MINUTE, "", 0.0)
    assert minute is not None and not minute.daily
    assert (minute.limit_name, minute.limit, minute.retry_in) == ("rpm", 10, 43.0)
    daily = {
        "error": {
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"},
                        {
                            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                            "quotaValue": "20",
                        },
                    ],
                }
            ]
        }
    }
    found = exhaustion_from_failure("gemini", daily, "", 0.0)
    assert found is not None and found.daily and (found.limit_name, found.limit) == ("rpd", 20)


def test_openrouter_groq_and_cloudflare_daily_messages() -> None:
    body = {
        "error": {
            "message": "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock "
            "1000 free model requests per day",
            "code": 429,
            "metadata": {
                "headers": {"X-RateLimit-Limit": "50", "X-RateLimit-Reset": "1767225600000"}
            },
        }
    }
    openrouter = exhaustion_from_failure("openrouter", body, "", 0.0)
    assert openrouter is not None and openrouter.daily and openrouter.shared
    assert (openrouter.limit, openrouter.until) == (50, 1767225600.0)
    groq_text = (
        "Rate limit reached for model `llama-3.3-70b-versatile` in organization `org_x` on "
        "requests per day (RPD): Limit 1000, Used 1000, Requested 1. Please try again in 1m26.4s."
    )
    groq = exhaustion_from_failure("groq", {"error": {"message": groq_text}}, "", 100.0)
    assert groq is not None and groq.daily and groq.limit == 1000
    assert groq.until == pytest.approx(186.4)
    cloudflare = exhaustion_from_failure(
        "cloudflare",
        None,
        "4006: you have used up your daily free allocation of 10,000 neurons",
        0.0,
    )
    assert cloudflare is not None and cloudflare.daily and cloudflare.shared
    assert exhaustion_from_failure("x", {"error": {"message": "slow down"}}, "", 0.0) is None


def test_days_end_at_utc_or_pacific_midnight() -> None:
    noon = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc).timestamp()
    assert next_reset(noon, "utc") == datetime(2026, 12, 5, tzinfo=timezone.utc).timestamp()
    # 04:00 UTC on 2026-12-04 is 20:00 Pacific (PST, UTC-8) on the 3rd: the day ends at 08:00 UTC.
    early = datetime(2026, 12, 4, 4, 0, tzinfo=timezone.utc).timestamp()
    assert next_reset(early, "pacific") == datetime(2026, 12, 4, 8, tzinfo=timezone.utc).timestamp()


def test_the_table_merges_model_rows_over_provider_rows() -> None:
    flash = table_limits("gemini", "gemini-2.5-flash")
    assert (flash.rpd, flash.reset) == (20, "pacific")
    assert table_limits("gemini", "gemini-embedding-001").reset == "pacific"
    openrouter = table_limits("openrouter", "anything:free")
    assert openrouter.shared and openrouter.free_models_only and openrouter.rpm == 20
    assert not table_limits("together", "x").any
    assert all(row.source for rows in BUILTIN_LIMITS.values() for row in rows.values())


def test_a_rolling_minute_frees_up_sixty_seconds_after_the_oldest_request() -> None:
    store = QuotaStore(None)
    limits = Limits(rpm=2)
    assert store.reserve("p|m", limits, now=1000.0) is None
    assert store.reserve("p|m", limits, now=1030.0) is None
    blocked = store.reserve("p|m", limits, now=1031.0)
    assert blocked is not None and blocked.limit == "rpm" and blocked.until == pytest.approx(1061.0)
    assert store.reserve("p|m", limits, now=1061.5) is None


def test_a_daily_limit_frees_up_at_the_reset() -> None:
    store = QuotaStore(None)
    limits = Limits(rpd=1, reset="utc")
    now = time.time()
    assert store.reserve("p|*", limits, now=now) is None
    blocked = store.over("p|*", limits, now=now)
    assert blocked is not None and blocked.until == next_reset(now, "utc")
    assert "frees up at" in blocked.describe(now)


def test_two_stores_on_one_file_share_the_count_near_the_limit(tmp_path: Path) -> None:
    first, second = QuotaStore(tmp_path / "q.sqlite3"), QuotaStore(tmp_path / "q.sqlite3")
    limits = Limits(rpm=3)
    assert first.reserve("p|m", limits) is None
    assert second.reserve("p|m", limits) is None
    assert first.reserve("p|m", limits) is None
    assert second.reserve("p|m", limits) is not None


def test_a_short_since_still_counts_all_of_todays_requests(tmp_path: Path) -> None:
    from openmux.quotas import UsageRecord, usage, usage_log

    now = time.time()
    early = next_reset(now, "utc") - 86400 + 1  # the UTC day's first second
    log = usage_log(tmp_path)
    for at in (early, now):
        log.record(UsageRecord(at, "groq", "llama-3.3-70b-versatile", "chat", "ok"))
    (row,) = usage(now - 0.5, state_dir=tmp_path)["models"]
    assert row["requests"] == 1  # the span asked for
    assert row["today"] == 2 and row["limits"]["rpd"] == 1000  # against the day's limit


def test_since_takes_spans_and_dates() -> None:
    assert parse_since("7d", now=1_000_000.0) == 1_000_000.0 - 7 * 86400
    assert parse_since("2026-12-01") == datetime(2026, 12, 1, tzinfo=timezone.utc).timestamp()
    assert parse_since("99999999d") == 0.0  # before the epoch: everything
    with pytest.raises(ValueError, match="7d, 24h"):
        parse_since("last week")


def test_list_prices_match_free_and_prefixed_ids() -> None:
    assert list_price("meta-llama/llama-3.3-70b-instruct:free") == list_price(
        "llama-3.3-70b-versatile"
    )
    assert list_price("a-1") is None


@pytest.mark.parametrize(
    "url",
    [
        "http://[::ffff:127.0.0.1]:8000/v1",
        "http://2130706433:8000/v1",
        "http://127.1:8000/v1",
        "http://localhost.:8000/v1",
        "http://0x7f000001/v1",
        "http://[::1]/v1",
    ],
)
def test_every_loopback_spelling_is_loopback(url: str) -> None:
    assert is_loopback_url(url)


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/v1", "http://127.example.com/v1", "http://1.2.3/v1"]
)
def test_other_hosts_are_not(url: str) -> None:
    assert not is_loopback_url(url)


def test_a_builtin_pointed_at_loopback_keeps_its_own_free_rule() -> None:
    settings = load_settings(
        {"providers": {"openrouter": {"base_url": "http://[::ffff:127.0.0.1]:9/api/v1"}}},
        api_keys={"openrouter": "sk-or-test"},
    )
    openrouter = settings.providers["openrouter"]
    assert openrouter.local  # reachable offline: the address says where, not what it costs
    assert not openrouter.is_free("openai/gpt-4o")
    assert openrouter.is_free("meta-llama/llama-3.3-70b-instruct:free")
    assert not settings.providers["together"].free


@pytest.mark.parametrize(
    ("overrides", "keys", "where"),
    [
        ({"providers": {"github": {"enabled": True}}}, None, "providers.github"),
        ({"router": {"providers": ["github", "groq"]}}, None, "[router] providers"),
        ({}, {"github": "ghp_x"}, "api_keys"),
    ],
)
def test_github_models_is_retired_with_a_clear_error(
    overrides: dict, keys: dict | None, where: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(overrides, api_keys=keys)
    text = str(caught.value)
    assert "retired on 2026-07-30" in text and "openrouter" in text and where in text
    assert "github" not in load_settings().providers


def test_limits_tables_are_checked() -> None:
    with pytest.raises(ConfigError, match="unknown limit 'rph'"):
        load_settings({"providers": {"groq": {"limits": {"rph": 3}}}})
    with pytest.raises(ConfigError, match=r'limits\.reset must be "utc" or "pacific"'):
        load_settings({"providers": {"groq": {"limits": {"reset": "cet"}}}})
    groq = load_settings({"providers": {"groq": {"limits": {"rpd": 5}}}}).providers["groq"]
    assert dict(groq.limits) == {"rpd": 5}


def _usage_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int) -> UsageLog:
    """A usage log in `tmp_path` whose writes are due every `batch` rows."""
    from openmux.quotas import _usage

    monkeypatch.setattr(_usage, "BATCH", batch)
    return _usage.UsageLog(tmp_path / "usage.sqlite3")


def _rows_written(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0])


def test_recording_never_waits_for_a_batch_being_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openmux.quotas import _usage

    log = _usage_log(tmp_path, monkeypatch, batch=2)
    assert log.path is not None
    other_process = sqlite3.connect(log.path, isolation_level=None)
    other_process.execute("BEGIN EXCLUSIVE")  # the batch's write waits for the file (5 s)
    row = _usage.UsageRecord(time.time(), "p", "m", "chat", "ok")
    log.record(row)
    log.record(row)  # a batch is due: the writer thread takes it
    time.sleep(0.3)
    recorded = threading.Event()
    threading.Thread(target=lambda: (log.record(row), recorded.set()), daemon=True).start()
    # A request's record is taken while the file is still busy, not after it frees up.
    assert recorded.wait(timeout=4)
    other_process.execute("COMMIT")
    other_process.close()
    assert len(log.rows()) == 3


def test_a_batch_that_cannot_be_written_whole_is_written_later_once(tmp_path: Path) -> None:
    from openmux.quotas import _usage

    path = tmp_path / "usage.sqlite3"
    log = _usage.UsageLog(path)
    refusing = sqlite3.connect(path, isolation_level=None)
    # The file takes the batch's first row and refuses its second.
    refusing.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON attempts WHEN NEW.model = 'refused' "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    now = time.time()
    log.record(_usage.UsageRecord(now, "p", "kept", "chat", "ok"))
    log.record(_usage.UsageRecord(now, "p", "refused", "chat", "ok"))
    log.flush()  # fails: the rows stay in memory
    refusing.execute("DROP TRIGGER refuse")
    refusing.close()
    log.flush()
    assert sorted(row.model for row in log.rows()) == ["kept", "refused"]


def test_a_batch_larger_than_one_statement_is_written_whole_and_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openmux.quotas import _usage

    log = _usage_log(tmp_path, monkeypatch, batch=1000)
    start = time.time()
    # 9 columns: 111 rows fill one statement's 999 parameters, so this takes three.
    rows = [
        _usage.UsageRecord(start + i, "p", f"m-{i}", "chat", "ok", i, 2 * i) for i in range(250)
    ]
    for row in rows:
        log.record(row)
    log.flush()
    assert log.rows() == rows
    assert log.path is not None
    assert _rows_written(log.path) == 250


def test_one_writer_thread_writes_every_due_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openmux.quotas import _usage

    log = _usage_log(tmp_path, monkeypatch, batch=2)
    row = _usage.UsageRecord(time.time(), "p", "m", "chat", "ok")

    assert log.path is not None
    writers = set()
    for batch in (1, 2, 3):
        log.record(row)
        log.record(row)  # due: handed to the writer
        deadline = time.monotonic() + 5
        while (
            _rows_written(log.path) < 2 * batch or log._flushing
        ) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _rows_written(log.path) == 2 * batch
        writers.add(log._writer)
    assert len(writers) == 1  # not a thread per batch
