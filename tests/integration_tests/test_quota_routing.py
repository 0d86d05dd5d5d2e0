"""Free-tier limits respected before the 429, against the loopback fake.

A limit the table or the config knows is counted before a request is sent; a candidate
one more request would push over is skipped (`over_quota`, with when it frees up). The
counters live in the state dir, so processes sharing it share the allowance.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openmux import ChatOpenMux, NoProviderAvailable
from openmux.quotas import next_reset
from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_config

PROVIDERS = {
    "alpha": {"models": ["a-1"], "reply": "from alpha"},
    "beta": {"models": ["b-1"], "reply": "from beta"},
}


def limited(server: FakeProviderServer, **limits: Any) -> dict[str, Any]:
    config = provider_config(server.providers["alpha"], server.providers["beta"])
    config["providers"]["alpha"]["limits"] = limits
    config["router"]["strategy"] = "ordered"
    return config


def statuses(message: Any) -> list[tuple[str, str]]:
    return [(a["provider"], a["status"]) for a in message.response_metadata["openmux"]["attempts"]]


def test_rpm_5_sends_exactly_5_to_the_first_provider_and_15_to_the_next(
    server: FakeProviderServer, caplog: pytest.LogCaptureFixture
) -> None:
    llm = ChatOpenMux(config=limited(server, rpm=5))
    with caplog.at_level(logging.INFO, logger="openmux"):
        messages = [llm.invoke(f"question {i}") for i in range(20)]
    assert server.providers["alpha"].hits == 5
    assert server.providers["beta"].hits == 15
    assert [m.content for m in messages].count("from alpha") == 5
    every = [status for m in messages for _, status in statuses(m)]
    assert "rate_limited" not in every  # no 429 was ever received
    skipped = messages[-1].response_metadata["openmux"]["attempts"][0]
    assert skipped["status"] == "over_quota"
    assert "rpm limit (5)" in skipped["error"] and "frees up in" in skipped["error"]
    over = [r.getMessage() for r in caplog.records if "over quota" in r.getMessage()]
    assert len(over) == 15 and all("alpha:a-1" in line for line in over)


CHILD = """
import json, sys
from openmux import ChatOpenMux, NoProviderAvailable
config = json.loads(sys.argv[1])
answers = [ChatOpenMux(config=config).invoke(f"q{i}").content for i in range(5)]
print(json.dumps(answers))
"""


def test_four_processes_sharing_the_state_dir_share_the_limit(
    server: FakeProviderServer, tmp_path: Path
) -> None:
    import subprocess

    config = json.dumps(limited(server, rpm=5))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, config],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    answers = []
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        answers += json.loads(out.strip().splitlines()[-1])
    assert len(answers) == 20
    assert server.providers["alpha"].hits == 5
    assert server.providers["beta"].hits == 15
    assert answers.count("from alpha") == 5


GEMINI_DAILY_429 = [
    {
        "error": {
            "code": 429,
            "message": "You exceeded your current quota, please check your plan and billing "
            "details.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/"
                            "generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                            "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
                            "quotaValue": "20",
                        }
                    ],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "43s"},
            ],
        }
    }
]


def openrouter_daily_429() -> dict[str, Any]:
    """Built when the test runs, not at import: a run that crosses midnight UTC would
    otherwise send yesterday's reset."""
    return {
        "error": {
            "message": "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 "
            "free model requests per day",
            "code": 429,
            "metadata": {
                "headers": {
                    "X-RateLimit-Limit": "50",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(int(next_reset(None, "utc") * 1000)),
                }
            },
        }
    }


@pytest.mark.parametrize(
    ("body", "reset"), [(lambda: GEMINI_DAILY_429, "pacific"), (openrouter_daily_429, "utc")]
)
def test_a_daily_limit_429_benches_the_model_until_the_reset(
    server: FakeProviderServer, body: Callable[[], Any], reset: str
) -> None:
    config = limited(server, reset=reset)
    server.providers["alpha"].fault = Fault.status(429, json_body=body(), retry_after=43)
    llm = ChatOpenMux(config=config)
    message = llm.invoke("hi")
    assert message.content == "from beta"
    assert statuses(message)[0] == ("alpha", "rate_limited")
    from openmux.health import health_store

    bench = health_store(Path(os.environ["OPENMUX_STATE_DIR"])).bench_of("alpha", "a-1")
    assert bench is not None
    assert abs(bench.until - next_reset(None, reset)) < 5  # the day's end, not 43 s
    llm.invoke("again")
    assert server.providers["alpha"].hits == 1  # benched: never asked again today


def test_learned_daily_limit_from_groq_style_headers(server: FakeProviderServer) -> None:
    """Headers saying the day's last request is gone stop further requests until reset."""
    alpha = server.providers["alpha"]
    alpha.response_headers = lambda p: {
        "x-ratelimit-limit-requests-day": "3",
        "x-ratelimit-remaining-requests-day": str(max(0, 3 - p.hits)),
        "x-ratelimit-reset-requests-day": "3600",
    }
    llm = ChatOpenMux(config=limited(server))
    answers = [llm.invoke(f"q{i}").content for i in range(5)]
    assert answers == ["from alpha"] * 3 + ["from beta"] * 2
    assert alpha.hits == 3


@pytest.mark.parametrize("value", ["-1", "1e400", "1e30"])
def test_headers_with_a_count_no_provider_could_mean_are_ignored(
    server: FakeProviderServer, value: str
) -> None:
    alpha = server.providers["alpha"]
    alpha.response_headers = {
        "x-ratelimit-limit-requests": value,
        "x-ratelimit-remaining-requests": "5",
    }
    llm = ChatOpenMux(config=limited(server))
    answers = [llm.invoke(f"q{i}").content for i in range(3)]
    assert answers == ["from alpha"] * 3  # neither a traceback nor a model shut out
    assert alpha.hits == 3


def test_a_limit_table_with_a_mistake_is_one_clear_line(server: FakeProviderServer) -> None:
    from openmux.errors import ConfigError

    with pytest.raises(ConfigError, match=r"limits.rpm must be a whole number"):
        ChatOpenMux(config=limited(server, rpm="five"))


def test_stats_json_counts_equal_the_fake_counts(server: FakeProviderServer) -> None:
    from tests.helpers import run_cli

    config = limited(server, rpm=3)
    server.providers["beta"].fault = Fault.flaky(0.3, seed=7)
    llm = ChatOpenMux(config=config)
    for i in range(12):
        with contextlib.suppress(NoProviderAvailable):  # both failed: still counted
            llm.invoke(f"q{i}")
    from openmux.quotas import usage_log

    usage_log(Path(os.environ["OPENMUX_STATE_DIR"])).flush()  # the rows still batched
    result = run_cli("stats", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    sent = {row["provider"]: row["requests"] for row in data["models"]}
    assert sent == {"alpha": server.providers["alpha"].hits, "beta": server.providers["beta"].hits}
    assert data["spent_usd"] == 0
    assert data == json.loads(json.dumps(usage_of_now(data)))  # the Python API: the same data
    shown = run_cli("stats", "--since", "1h", "--plot", "usage.html")
    assert shown.returncode == 0, shown.stderr
    assert "alpha:a-1" in shown.stdout and "over quota" in shown.stdout
    assert "<svg" in Path("usage.html").read_text(encoding="utf-8")
    wrong = run_cli("stats", "--plot", "usage.png")
    assert wrong.returncode == 2 and "*.html or *.svg" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def usage_of_now(data: dict[str, Any]) -> dict[str, Any]:
    """`openmux.usage()` for the same span, its clock-dependent fields set to the CLI's."""
    import openmux

    found = openmux.usage(data["since"])
    return {**found, "since": data["since"], "until": data["until"]}


def test_a_retry_counts_against_the_limit(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=limited(server, rpm=6))
    for i in range(5):  # a healthy history: a transient error is worth one quick retry
        assert llm.invoke(f"q{i}").content == "from alpha"
    server.providers["alpha"].fault = Fault.status(503)
    message = llm.invoke("the sixth")
    assert message.content == "from beta"
    assert server.providers["alpha"].hits == 6  # the retry would have been the seventh
