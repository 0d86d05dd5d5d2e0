"""`openmux playground` driven through gradio_client against loopback fake providers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("gradio", reason='needs: pip install "openmux[ui]"')

from gradio_client import Client

from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_toml, readme_blocks, run_cli

# Every test gets the declared providers back, whatever the test before it changed.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("server")]

PROVIDERS = {
    "alpha": dict(models=["m-1", "m-2"], reply="Answer from alpha."),
    "beta": dict(models=["m-3"], reply="Answer from beta."),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def playground(
    module_server: FakeProviderServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Client]:
    work = tmp_path_factory.mktemp("playground")
    (work / "openmux.toml").write_text(provider_toml(*module_server.providers.values()), "utf-8")
    port = _free_port()
    env = {
        **os.environ,
        "OPENMUX_STATE_DIR": str(work / "state"),
        "HOME": str(work),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "openmux.cli", "playground", "--port", str(port)],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(600):  # importing Gradio takes a while on a busy machine
            if process.poll() is not None:
                pytest.fail(
                    f"the playground exited: {process.stdout.read() if process.stdout else ''}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        yield Client(url, verbose=False)
    finally:
        process.terminate()
        process.wait(20)


def _text(turn: dict[str, Any]) -> str:
    content = turn["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content)


def test_chat_streams_and_shows_the_routing(playground: Client) -> None:
    job = playground.submit("What is recursion?", [], api_name="/chat")
    outputs = list(job)
    history, routing, run_id, prompt = job.result()
    assert len(outputs) >= 2  # the question first, then the answer as it streams
    assert [turn["role"] for turn in history] == ["user", "assistant"]
    assert _text(history[1]) == "Answer from alpha."
    assert "<b>Task</b> chat" in routing and "alpha:m-1" in routing
    assert "Attempts" in routing and ">ok<" in routing
    assert run_id and prompt == ""

    follow_up = playground.predict("And in one word?", history, api_name="/chat")[0]
    assert [_text(turn) for turn in follow_up][-2:] == ["And in one word?", "Answer from alpha."]


def test_attempts_timeline_shows_a_failover(server: FakeProviderServer, playground: Client) -> None:
    server.providers["alpha"].fault = Fault.status(500)
    routing = playground.predict("Tell me a fact", [], api_name="/chat")[1]
    assert routing.index("http_5xx") < routing.index(">ok<")
    assert "beta:m-3" in routing


def test_thumbs_vote_on_the_answer(playground: Client) -> None:
    run_id = playground.predict("Hello there", [], api_name="/chat")[2]
    assert playground.predict(run_id, api_name="/vote").startswith("Voted up alpha:m-1 for chat")
    down = playground.predict(run_id, api_name="/vote_down")
    assert "1 up / 1 down" in down
    assert "Ask something first" in playground.predict("", api_name="/vote")


def test_compare_shows_members_side_by_side(playground: Client) -> None:
    members, combined = playground.predict("Capital of France?", 3, "concat", api_name="/compare")
    for name in ("alpha:m-1", "alpha:m-2", "beta:m-3"):
        assert name in members
    assert "om-card" in members and " ms" in members
    assert "Answer from beta." in combined


def test_settings_restrict_providers_and_force_the_task(playground: Client) -> None:
    status = playground.predict(True, ["beta"], "code", api_name="/apply_settings")
    assert status == "Free only: yes; providers: beta; task: code"
    routing = playground.predict("Say hi", [], api_name="/chat")[1]
    assert "beta:m-3" in routing and "<b>Task</b> code" in routing
    playground.predict(True, ["alpha", "beta"], "auto", api_name="/apply_settings")


def test_usage_lists_this_sessions_answers(playground: Client) -> None:
    playground.predict("Count me", [], api_name="/chat")
    usage, bench = playground.predict(api_name="/usage")
    rows = {row[0]: row for row in usage["data"]}
    assert rows["alpha:m-1"][1] >= 1  # answers
    assert isinstance(bench["data"], list)


def test_playground_refuses_a_non_loopback_host() -> None:
    result = run_cli("playground", "--host", "0.0.0.0", timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("openmux playground: 0.0.0.0 is not a loopback")


def test_readme_example(playground: Client, capsys: pytest.CaptureFixture[str]) -> None:
    [example] = readme_blocks("Playground", "python")
    example = example.replace("http://127.0.0.1:7860/", playground.src)
    exec(compile(example, "README.md", "exec"), {})
    assert "\nVoted up alpha:m-1 for chat: " in capsys.readouterr().out
