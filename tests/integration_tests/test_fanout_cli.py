"""`openmux compare` against loopback fake providers (run in process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openmux.cli import main
from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_toml

PROVIDERS = {
    "alpha": dict(models=["m-alpha"], reply="Paris."),
    "beta": dict(models=["m-beta"], reply="paris"),
    "gamma": dict(models=["m-gamma"], reply="Lyon [sic]"),
}


@pytest.fixture
def configured(server: FakeProviderServer, clean_environment: Path) -> Path:
    text = provider_toml(*server.providers.values())
    (clean_environment / "openmux.toml").write_text(text, encoding="utf-8")
    return clean_environment


def test_compare_prints_members_then_the_combined_answer(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["compare", "--task", "chat", "--combiner", "vote", "Capital of France?"])
    out = capsys.readouterr().out
    assert code == 0
    for name in ("alpha:m-alpha", "beta:m-beta", "gamma:m-gamma"):
        assert name in out
    assert "Lyon [sic]" in out  # answers are text, not rich markup
    assert out.index("gamma:m-gamma") < out.index("combined")
    assert "vote, picked alpha:m-alpha, agreement 67%" in out
    assert " s" in out  # timings


def test_compare_json_with_named_models_and_a_failure(
    server: FakeProviderServer, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.providers["beta"].fault = Fault.status(500)
    code = main(
        [
            "compare",
            "--task",
            "chat",
            "--json",
            "--combiner",
            "concat",
            "--models",
            "alpha:m-alpha,m-beta",
            "Capital?",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert [(m["provider"], m["status"]) for m in data["members"]] == [
        ("alpha", "ok"),
        ("beta", "http_5xx"),
    ]
    assert data["response"] == "[alpha:m-alpha]\nParis."
    assert data["combiner"]["name"] == "concat"


def test_compare_reports_total_failure(
    server: FakeProviderServer, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for provider in server.providers.values():
        provider.fault = Fault.status(500)
    code = main(["compare", "--task", "chat", "-n", "2", "Capital?"])
    assert code == 1
    assert "no member of the fan-out answered" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value"),
    [("--timeout", "0"), ("--timeout", "-1"), ("--timeout", "nan"), ("--timeout", "inf"),
     ("--min-answers", "0"), ("--min-answers", "-3")],
)  # fmt: skip
def test_compare_options_out_of_range_are_usage_errors(
    server: FakeProviderServer, configured: Path, capsys: pytest.CaptureFixture[str],
    option: str, value: str,
) -> None:  # fmt: skip
    # Before: 0 quietly meant "no limit" or "the default", and the others were refused
    # only after the configuration was read, as `member_timeout=` or `min_answers=`.
    with pytest.raises(SystemExit) as stopped:
        main(["compare", "--task", "chat", option, value, "Capital?"])
    assert stopped.value.code == 2
    assert option in capsys.readouterr().err
    assert sum(provider.hits for provider in server.providers.values()) == 0
