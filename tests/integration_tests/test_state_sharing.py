"""Hosts sharing one Redis-protocol server share benches and quotas; an outage costs no answer.

Each "host" is a separate process with its own state dir: only the state server joins them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_config, run_child
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
