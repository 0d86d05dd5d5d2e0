"""Hosts sharing one Redis-protocol server share benches and quotas; an outage costs no answer.

Each "host" is a separate process with its own state dir: only the state server joins them.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openmux import ChatOpenMux
from openmux.health import HealthStore, health_store
from openmux.quotas import quota_store, usage_log
from openmux.state import state_backend
from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_config, run_child, run_cli
from tests.state_server import StateServer

PROVIDERS = {
    "alpha": {"models": ["a-1"], "reply": "from alpha"},
    "beta": {"models": ["b-1"], "reply": "from beta"},
}

# argv: config (JSON), the number of requests to send.
ASK = """
import json, sys
from openmux import ChatOpenMux
config, count = json.loads(sys.argv[1]), int(sys.argv[2])
llm = ChatOpenMux(config=config)
print(json.dumps([llm.invoke(f"question {i}").content for i in range(count)]))
"""


def ordered(server: FakeProviderServer, **alpha_limits: Any) -> dict[str, Any]:
    config = provider_config(server.providers["alpha"], server.providers["beta"])
    config["router"]["strategy"] = "ordered"
    if alpha_limits:
        config["providers"]["alpha"]["limits"] = alpha_limits
    return config


def host(
    name: str, tmp_path: Path, config: dict[str, Any], count: int, url: str | None
) -> list[str]:
    """Send `count` requests from a new process with its own state dir; its answers."""
    env = {**os.environ, "OPENMUX_STATE_DIR": str(tmp_path / name)}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    if url:
        env["OPENMUX_STATE_URL"] = url
    else:
        env.pop("OPENMUX_STATE_URL", None)
    run = run_child([sys.executable, "-c", ASK, json.dumps(config), str(count)], env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    return list(json.loads(run.stdout.strip().splitlines()[-1]))


def test_a_bench_from_one_host_keeps_the_others_off(
    server: FakeProviderServer, state_server: StateServer, tmp_path: Path
) -> None:
    config = ordered(server)
    server.providers["alpha"].fault = Fault.status(429, retry_after=30)
    assert host("a", tmp_path, config, 1, state_server.url) == ["from beta"]
    assert server.providers["alpha"].hits == 1
    server.providers["alpha"].fault = None  # alpha would answer now: only the bench stops B
    assert host("b", tmp_path, config, 3, state_server.url) == ["from beta"] * 3
    assert server.providers["alpha"].hits == 1
    # Without the shared server, a host with its own state dir knows of no bench.
    assert host("c", tmp_path, config, 1, None) == ["from alpha"]


def test_hosts_share_a_quota(
    server: FakeProviderServer, state_server: StateServer, tmp_path: Path
) -> None:
    config = ordered(server, rpm=5)
    first = host("a", tmp_path, config, 4, state_server.url)
    second = host("b", tmp_path, config, 4, state_server.url)
    assert server.providers["alpha"].hits == 5
    assert (first + second).count("from alpha") == 5
    assert (first + second).count("from beta") == 3


def _replayed(state_server: StateServer, done: Callable[[Any], bool]) -> Any:
    """A client of the restarted server once `done(client)` holds (the sync thread replays
    within about a second of the server's return)."""
    import redis

    client = redis.Redis.from_url(state_server.url)
    deadline = time.monotonic() + 30
    while not done(client) and time.monotonic() < deadline:
        time.sleep(0.1)
    return client


def test_a_server_outage_mid_run_costs_no_answer_and_loses_no_write(
    server: FakeProviderServer,
    state_server: StateServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("OPENMUX_STATE_URL", state_server.url)
    state_dir = tmp_path / "state"
    llm = ChatOpenMux(config=ordered(server, rpm=1000))
    answers = [llm.invoke(f"before {i}").content for i in range(5)]
    state_server.kill()
    server.providers["alpha"].fault = Fault.status(429, retry_after=30)
    with caplog.at_level(logging.WARNING, logger="openmux"):
        answers += [llm.invoke(f"during {i}").content for i in range(20)]
    assert answers == ["from alpha"] * 5 + ["from beta"] * 20
    said = [r.getMessage() for r in caplog.records if "state server" in r.getMessage()]
    assert len(said) == 1 and "unreachable" in said[0]

    state_server.start()  # with what it acknowledged before: the rest must come again
    usage_log(state_dir).flush()
    health_store(state_dir).flush()
    quota_store(state_dir).flush()
    with sqlite3.connect(state_dir / "usage.sqlite3") as db:
        recorded = db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
    with sqlite3.connect(state_dir / "quotas.sqlite3") as db:
        counted = db.execute(
            "SELECT SUM(n) FROM quota_counts WHERE window = 'd' AND scope LIKE 'alpha|%'"
        ).fetchone()[0]
    bench_key = "openmux:r:health:alpha\x1fa-1"
    counts_key = "openmux:r:quota:c\x1falpha|*\x1fd"

    def replayed(client: Any) -> bool:
        return bool(
            client.llen("openmux:l:usage") >= recorded
            and client.exists(bench_key)
            and sum(int(n) for n in client.hgetall(counts_key).values()) >= counted
        )

    client = _replayed(state_server, replayed)
    assert client.llen("openmux:l:usage") == recorded
    assert sum(int(n) for n in client.hgetall(counts_key).values()) == counted == 6
    assert float(client.hget(bench_key, "benched_until")) > time.time() + 20
    assert client.hget(bench_key, "reason") == b"rate_limited"
    assert len(usage_log(state_dir).rows()) == recorded  # stats read the server's log again


def test_stats_sum_every_host_from_the_shared_server(
    server: FakeProviderServer, state_server: StateServer, tmp_path: Path
) -> None:
    config = ordered(server)
    host("a", tmp_path, config, 2, state_server.url)
    host("b", tmp_path, config, 3, state_server.url)
    env = {**os.environ, "OPENMUX_STATE_URL": state_server.url}
    env["OPENMUX_STATE_DIR"] = str(tmp_path / "a third host")
    result = run_cli("stats", "--json", env=env)
    assert result.returncode == 0, result.stderr
    sent = {row["provider"]: row["requests"] for row in json.loads(result.stdout)["models"]}
    assert sent == {"alpha": 5}
    assert state_server.url in run_cli("stats", env=env).stdout


def test_doctor_shows_the_state_backend_and_masks_its_password(
    state_server: StateServer, tmp_path: Path
) -> None:
    env = {**os.environ, "OPENMUX_STATE_URL": state_server.url}
    report = json.loads(run_cli("doctor", "--json", env=env).stdout)
    assert report["state"] == {
        "backend": "redis",
        "where": state_server.url,
        "reachable": True,
        "problem": "",
    }
    state_server.kill()
    env["OPENMUX_STATE_URL"] = f"redis://:doctor-s3cret@127.0.0.1:{state_server.port}/0"
    result = run_cli("doctor", env=env)
    assert "state backend: redis redis://***@127.0.0.1" in result.stdout
    assert "unreachable" in result.stdout
    assert "doctor-s3cret" not in result.stdout + result.stderr
    env.pop("OPENMUX_STATE_URL")
    report = json.loads(run_cli("doctor", "--json", env=env).stdout)
    assert report["state"]["backend"] == "sqlite" and report["state"]["reachable"]


WRITER = """
import sys
from pathlib import Path
from openmux.health import HealthStore
from openmux.state import state_backend
state_dir, url = Path(sys.argv[1]), sys.argv[2]
store = HealthStore(state_dir / "health.sqlite3", state_backend(state_dir, url=url).shared)
for _ in range(40):
    store.record_failure("p", "m", reason="http_5xx", breaker=False)
    store.record_success("p", "other")
store.flush()
"""


def test_hosts_merge_health_never_overwrite(state_server: StateServer, tmp_path: Path) -> None:
    """Counts add and a bench end only rises, whatever the writers' views were."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path / f"host-{n}"), state_server.url],
            env=env,
            stderr=subprocess.PIPE,
        )
        for n in range(8)
    ]
    for writer in writers:
        _, stderr = writer.communicate(timeout=300)
        assert writer.returncode == 0, stderr.decode()
    stale = HealthStore(None, state_backend(tmp_path / "stale", url=state_server.url).shared)
    stale.record_success("p", "benched")  # this host's view: healthy
    other = HealthStore(None, state_backend(tmp_path / "other", url=state_server.url).shared)
    other.record_failure("p", "benched", reason="rate_limited", bench_for=60)
    stale.record_success("p", "benched")  # written from the stale view: must not undo it
    stale.flush()
    import redis

    client = redis.Redis.from_url(state_server.url, decode_responses=True)
    assert client.hget("openmux:r:health:p\x1fm", "failures") == "320"
    assert client.hget("openmux:r:health:p\x1fother", "successes") == "320"
    benched = client.hgetall("openmux:r:health:p\x1fbenched")
    assert float(benched["benched_until"]) > time.time() + 50
    assert benched["reason"] == "rate_limited" and benched["successes"] == "2"


FOREIGN_KEYS = {  # a key of OpenMux's names that another program set first
    "version no number": ("openmux:v:health", "set", "banana"),
    "version no counter": ("openmux:v:quota", "hset", "field", "value"),
    "version a list": ("openmux:v:health", "rpush", "item"),
    "log no list": ("openmux:l:usage", "set", "someone else's"),
}


@pytest.mark.parametrize("foreign", FOREIGN_KEYS.values(), ids=FOREIGN_KEYS.keys())
def test_a_database_another_program_uses_is_one_warning_and_local_state(
    server: FakeProviderServer,
    state_server: StateServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    foreign: tuple[str, ...],
) -> None:
    """Before, a version that was no number raised out of the request, and a key of the
    wrong type was called an outage, warned about again every second."""
    import redis

    key, command, *args = foreign
    client = redis.Redis.from_url(state_server.url)
    getattr(client, command)(key, *args)
    monkeypatch.setenv("OPENMUX_STATE_URL", state_server.url)
    llm = ChatOpenMux(config=ordered(server, rpm=1000))
    server.providers["alpha"].fault = Fault.status(429, retry_after=30)
    with caplog.at_level(logging.INFO, logger="openmux"):
        answers = [llm.invoke(f"question {i}").content for i in range(3)]
        time.sleep(3)  # three of the sync thread's retries
        answers += [llm.invoke("one more").content]
    assert answers == ["from beta"] * 4
    assert server.providers["alpha"].hits == 1  # the bench held, from local state
    said = [r.getMessage() for r in caplog.records if "state server" in r.getMessage()]
    assert len(said) == 1, said
    assert "another program" in said[0] and "database of its own" in said[0], said
    assert "unreachable" not in said[0]
    assert not [r for r in caplog.records if r.exc_info]
    assert len(usage_log(tmp_path / "state").rows()) == 5
    # What the server did run was not sent again: the bench's failure counts once.
    assert client.hget("openmux:r:health:alpha\x1fa-1", "failures") == b"1"
