"""`openmux bench`, votes and local quality in selection, against loopback fake providers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openmux import ChatOpenMux
from openmux.cli import main
from openmux.quality import MAX_VOTE_SHIFT, VOTE_STEP, eval_set, grade, local_quality, run_tests
from openmux.testing import FakeProviderServer, Fault
from tests.bench_oracle import oracle
from tests.helpers import provider_config, provider_toml

# "dull" comes first in provider order: only the local scores can put "smart" first.
PROVIDERS = {"dull": dict(models=["echo-1"]), "smart": dict(models=["oracle-1"], reply=oracle)}


@pytest.fixture
def configured(
    server: FakeProviderServer, clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    # Ranked lists are reused for LATENCY_TTL seconds; these tests look right after a change.
    monkeypatch.setattr("openmux.routing._select.LATENCY_TTL", 0.0)
    text = provider_toml(*server.providers.values())
    (clean_environment / "openmux.toml").write_text(text, encoding="utf-8")
    return clean_environment


def _bench(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    assert main(["bench", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_bench_chat_grades_each_reachable_model(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _bench(capsys, "--limit", "6")
    by_model = {(r["provider"], r["model"]): r for r in rows}
    assert set(by_model) == {("dull", "echo-1"), ("smart", "oracle-1")}
    smart, dull = by_model[("smart", "oracle-1")], by_model[("dull", "echo-1")]
    assert (smart["questions"], smart["correct"], smart["accuracy"]) == (6, 6, 1.0)
    assert dull["correct"] < 6 and dull["failures"] == 0
    assert smart["latency_ms"] is not None and str(smart["date"]).endswith("Z")
    assert smart["set_version"] == eval_set("chat").version


def test_bench_code_runs_answers_against_tests(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _bench(capsys, "--task", "code", "--models", "oracle-1", "echo-1", "--limit", "3")
    by_model = {r["model"]: r for r in rows}
    assert by_model["oracle-1"]["correct"] == 3
    assert by_model["echo-1"]["correct"] == 0


def test_bench_counts_failed_calls(
    server: FakeProviderServer, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.providers["dull"].fault = Fault.status(401)
    [row] = _bench(capsys, "--models", "dull:echo-1", "--limit", "2")
    assert (row["model"], row["failures"], row["correct"], row["latency_ms"]) == (
        "echo-1",
        2,
        0,
        None,
    )


def test_bench_asks_the_models_even_with_the_response_cache_on(
    server: FakeProviderServer, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = configured / "openmux.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + '\n[cache]\nmode = "exact"\n')
    for _ in range(2):
        [row] = _bench(capsys, "--models", "smart:oracle-1", "--limit", "2")
        assert row["correct"] == 2
    # A replayed answer would grade an old answer and time the cache, not the model.
    assert server.providers["smart"].hits == 4


def test_bench_table_and_plot(
    configured: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plot = tmp_path / "bench.svg"
    assert main(["bench", "--limit", "2", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "smart:oracle-1" in out and "100%" in out and "2/2" in out
    svg = plot.read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "smart:oracle-1" in svg


def test_bad_bench_arguments_get_one_line(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--limit", "0"]) == 2
    assert main(["bench", "--plot", "out.png"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "openmux bench: --limit must be 1 or more",
        "openmux bench: --plot writes SVG: name the file *.svg (got out.png)",
    ]


def test_selection_ranks_by_local_scores_first_and_says_so(
    server: FakeProviderServer, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    llm = ChatOpenMux(config=provider_config(*server.providers.values()), task="chat")
    before = llm.invoke("hello").response_metadata["openmux"]
    assert before["provider"] == "dull"  # provider order: no score tells them apart
    _bench(capsys, "--limit", "4")
    after = ChatOpenMux(config=provider_config(*server.providers.values()), task="chat")
    meta = after.invoke("hello again").response_metadata["openmux"]
    assert meta["provider"] == "smart"
    assert "scores 100% on the local bench (4 questions" in meta["reason"]
    assert "used before the catalog's score" in meta["reason"]


def test_models_shows_local_and_catalog_scores(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _bench(capsys, "--limit", "2")
    assert main(["models", "--json"]) == 0
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["oracle-1"]["rank"] == 1
    assert rows["oracle-1"]["local_score"]["accuracy"] == 1.0
    assert "score" in rows["oracle-1"]  # the catalog's (None: not in the catalog)
    assert main(["models"]) == 0
    table = capsys.readouterr().out
    assert "local" in table and "100%" in table


def test_cli_vote_grades_the_last_chat_answer(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chat", "--json", "--task", "chat", "--provider", "smart", "hi"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["run_id"]
    assert main(["vote", "down"]) == 0
    assert main(["vote", "down", answer["run_id"]]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == (
        f"Voted down smart:oracle-1 for chat: 0 up / 2 down, score shift "
        f"{-2 * VOTE_STEP:+.2f} (bounded to +-{MAX_VOTE_SHIFT:.2f})"
    )


def test_vote_without_an_answer_is_one_clear_line(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["vote", "up", "lc_run-not-a-run"]) == 1
    assert capsys.readouterr().err.strip() == (
        "openmux vote: no answer with run id 'lc_run-not-a-run' is known here"
    )


def test_feedback_shifts_the_score_within_bounds_and_the_reason_says_so(
    server: FakeProviderServer, configured: Path
) -> None:
    llm = ChatOpenMux(config=provider_config(*server.providers.values()), task="chat")
    first = llm.invoke("hello")
    assert first.response_metadata["openmux"]["provider"] == "dull"
    quality = llm.feedback(first.id, good=False)
    assert (quality.up, quality.down, quality.vote_shift) == (0, 1, -VOTE_STEP)
    for _ in range(20):
        quality = llm.feedback(first, good=False)
    assert quality.vote_shift == -MAX_VOTE_SHIFT
    streamed = None
    for chunk in ChatOpenMux(
        config=provider_config(*server.providers.values()), task="chat"
    ).stream("and now?"):
        streamed = chunk if streamed is None else streamed + chunk
    assert streamed is not None
    meta = streamed.response_metadata["openmux"]
    assert meta["provider"] == "smart"
    assert local_quality("chat", llm.settings.state_dir)[("dull", "echo-1")].down == 21
    assert llm.feedback(streamed.id, good=True).up == 1


@pytest.mark.parametrize(
    ("answer", "reply", "correct"),
    [
        ("391", "17 * 23 = 391.", True),
        ("391", "It is 1,391", False),
        ("1024", "The result is 1,024", True),
        ("Canberra", "The capital is **Canberra**.", True),
        ("Canberra", "Sydney", False),
        ("carbon dioxide", "Plants take in CO2.", True),
    ],
)
def test_chat_answers_are_checked_by_number_or_whole_words(
    answer: str, reply: str, correct: bool
) -> None:
    item = next(i for i in eval_set("chat").items if i.answer == answer)
    assert grade("chat", item, reply)[0] is correct


def test_sandbox_refuses_the_network_and_stops_at_the_timeout() -> None:
    network = run_tests(
        "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)\n", "", timeout=10
    )
    assert not network.passed and "not allowed in the bench sandbox" in network.detail
    spawn = run_tests("import os\nos.system('true')\n", "", timeout=10)
    assert not spawn.passed and "os.system" in spawn.detail
    assert run_tests("while True:\n    pass\n", "", timeout=1).detail == "timeout"
    assert run_tests("def f():\n    return 1\n", "assert f() == 1").passed
