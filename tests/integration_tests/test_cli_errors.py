"""Bad input and interruptions end with one line naming the problem and the fix."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from openmux.testing import FakeProvider, FakeProviderServer, Fault
from tests.helpers import default_signals, provider_toml, run_child, run_cli
from tests.state_server import free_port

MODEL = "fake-model"


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    for word in words:
        assert word in output, output


@pytest.fixture
def configured(clean_environment: Path, fake_provider_server: FakeProviderServer) -> Path:
    provider = fake_provider_server.add_provider("fake", models=[MODEL], reply="hello")
    (clean_environment / "openmux.toml").write_text(
        provider_toml(provider) + "[timeouts]\nfirst_token = 5\ntotal = 5\n", encoding="utf-8"
    )
    return clean_environment


def test_non_utf8_arguments_and_input(configured: Path) -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:surrogateescape"}
    bad = b"caf\xe9 bar"
    chat = subprocess.run(
        [sys.executable, "-m", "openmux.cli", "chat", os.fsdecode(bad)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert chat.returncode == 2
    assert_one_clear_line(chat, "not valid UTF-8")
    for args in (["chat"], ["classify"]):
        piped = subprocess.run(
            [sys.executable, "-m", "openmux.cli", *args], input=bad, capture_output=True,
            env=dict(os.environ),
        )  # fmt: skip
        text = piped.stdout.decode(errors="replace") + piped.stderr.decode(errors="replace")
        assert "Traceback" not in text and "UTF-8" in text, (args, text)


def test_a_non_utf8_dotenv_names_the_file(clean_environment: Path) -> None:
    (clean_environment / ".env").write_bytes(b"OPENROUTER_API_KEY=caf\xe9\n")
    result = run_cli("config", "show")
    assert result.returncode != 0
    assert_one_clear_line(result, str(clean_environment / ".env"), "UTF-8")


def test_an_unknown_task_is_named(configured: Path) -> None:
    result = run_cli("chat", "--task", "bogus", "hello")
    assert result.returncode == 2
    assert_one_clear_line(result, "'bogus' is not a task", "chat, code")


def test_a_state_dir_that_cannot_be_created(configured: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"  # a folder cannot be made inside a file, even by root
    blocker.write_text("", encoding="utf-8")
    env = {**os.environ, "OPENMUX_STATE_DIR": str(blocker / "state")}
    answer = run_cli("chat", "--no-stream", "hi", env=env)
    assert_one_clear_line(answer, "hello")
    assert answer.returncode == 0
    doctor = run_cli("doctor", env=env)
    assert_one_clear_line(doctor, "cannot be created")


def test_corrupt_and_bad_state_databases(configured: Path) -> None:
    state = Path(os.environ["OPENMUX_STATE_DIR"])
    state.mkdir(parents=True, exist_ok=True)
    (state / "health.sqlite3").write_bytes(b"garbage, not SQLite" * 50)
    doctor = run_cli("doctor")
    assert_one_clear_line(doctor, "health.sqlite3 was corrupt", "moved aside")
    assert (state / "health.sqlite3.corrupt").is_file()
    with sqlite3.connect(state / "health.sqlite3") as db:
        db.execute(
            "INSERT INTO health (provider, model, benched_until, benches)"
            " VALUES ('fake', 'fake-model', 'soon', 'many')"
        )
    for args in (("chat", "--no-stream", "hi"), ("doctor",)):
        assert_one_clear_line(run_cli(*args))
    assert "hello" in run_cli("chat", "--no-stream", "hi").stdout


def test_ctrl_c_ends_with_one_line(
    configured: Path, fake_provider_server: FakeProviderServer
) -> None:
    provider = fake_provider_server.providers["fake"]
    provider.fault = Fault.hang()
    process = subprocess.Popen(
        [sys.executable, "-m", "openmux.cli", "chat", "--no-stream", "hi"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
        preexec_fn=default_signals,  # run in the background, pytest's children ignore SIGINT
    )  # fmt: skip
    while not provider.requests:  # wait until the question is on its way, then interrupt it
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines() == ["openmux: interrupted"]


# The REPL, with Ctrl-C pressed while its first answer imports what it needs: PyYAML,
# which langchain-core's LLM base class loads on first use.
_CTRL_C_DURING_AN_IMPORT = """
import importlib.abc, os, signal, sys

class CtrlC(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "yaml.reader":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlC())
from openmux.cli import main
sys.exit(main([]))
"""


def test_ctrl_c_during_an_import_leaves_the_repl_working(configured: Path) -> None:
    result = run_child(
        [sys.executable, "-c", _CTRL_C_DURING_AN_IMPORT], input="first\nsecond\n",
        env=dict(os.environ), timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "(interrupted)" in result.stdout  # the Ctrl-C came during the answer
    # Before, the half-imported package failed every later question on every provider
    # ("partially initialized module 'yaml'"), until the session was restarted.
    assert "hello" in result.stdout, result.stderr
    assert "partially initialized" not in result.stderr


KEY = "sk-fake-0123456789abcdefKEYCANARY"


def _keyed_provider(server: FakeProviderServer, folder: Path) -> FakeProvider:
    """A fake provider whose key comes from FAKE_API_KEY, configured in `folder`."""
    provider = server.add_provider("fake", models=[MODEL], reply="hello")
    (folder / "openmux.toml").write_text(
        provider_toml(provider) + 'api_key_env = "FAKE_API_KEY"\n', encoding="utf-8"
    )
    return provider


@pytest.mark.parametrize(
    "value", [f"{KEY}\n", f"  {KEY}\r\n", f"\t{KEY} "], ids=["newline", "crlf", "spaces"]
)
def test_a_key_variable_with_surrounding_whitespace_is_used_trimmed(
    clean_environment: Path, fake_provider_server: FakeProviderServer, value: str
) -> None:
    provider = _keyed_provider(fake_provider_server, clean_environment)
    result = run_cli("chat", "--no-stream", "hi", env={**os.environ, "FAKE_API_KEY": value})
    assert result.returncode == 0 and "hello" in result.stdout, result.stderr
    assert provider.requests[-1].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    "value",
    ["sk-fake-0123\n456789abcdefKEYCANARY", "sk-fake-0123 456789abcdefKEYCANARY",
     "sk-fake-0123456789abcdéfKEYCANARY", '"sk-fake-0123456789abcdefKEYCANARY"'],
    ids=["line break", "space", "non-ASCII", "quoted"],
)  # fmt: skip
def test_a_key_variable_that_cannot_be_a_key_is_named(
    clean_environment: Path, fake_provider_server: FakeProviderServer, value: str
) -> None:
    provider = _keyed_provider(fake_provider_server, clean_environment)
    env = {**os.environ, "FAKE_API_KEY": value}
    result = run_cli("chat", "--no-stream", "hi", env=env)
    assert result.returncode == 1
    assert_one_clear_line(result, "FAKE_API_KEY", "fix:")
    assert "KEYCANARY" not in result.stdout + result.stderr
    assert not provider.requests  # nothing sent, so nothing benched


# Every command that reads the config file, with what it needs besides (a recording, stdin).
_READS_THE_CONFIG = [
    ("chat", "hi"), ("repl",), ("compare", "hi"), ("models",), ("models", "--json"),
    ("doctor",), ("doctor", "--json"), ("config", "show"), ("config", "validate"),
    ("init", "--yes", "--no-test"), ("stats",), ("stats", "--json"), ("bench", "--limit", "1"),
    ("vote", "up"), ("serve", "--port", "PORT"), ("playground", "--port", "PORT"),
    ("image", "a fox", "-o", "fox.png"), ("speak", "hi", "-o", "hi.wav"),
    ("transcribe", "memo.wav"),
]  # fmt: skip


@pytest.mark.parametrize("args", _READS_THE_CONFIG, ids=" ".join)
def test_a_malformed_config_file_is_exit_1_in_every_command(
    clean_environment: Path, args: tuple[str, ...]
) -> None:
    from openmux.testing._media import wav

    (clean_environment / "memo.wav").write_bytes(wav(1.0))
    (clean_environment / "openmux.toml").write_text("[router\n", encoding="utf-8")
    port = str(free_port())  # should the file be taken after all, nothing else is disturbed
    result = run_cli(*(port if arg == "PORT" else arg for arg in args), stdin="hi\n", timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr  # 2 is a command-line mistake
    assert_one_clear_line(result, "openmux.toml", "line 1" if "show" in args else "")
    assert not (clean_environment / "fox.png").exists()
