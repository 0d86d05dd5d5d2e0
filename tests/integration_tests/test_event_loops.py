"""`asyncio.run(llm.ainvoke(...))` in a loop: each loop's pool is closed with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from openmux.testing import FakeProviderServer
from tests.helpers import provider_toml

CALLS = 300


@pytest.fixture
def configured(clean_environment: Path, fake_provider_server: FakeProviderServer) -> Path:
    provider = fake_provider_server.add_provider("fake", models=["fake-model"], reply="pong")
    (clean_environment / "openmux.toml").write_text(provider_toml(provider), encoding="utf-8")
    return clean_environment


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
def test_no_descriptor_or_loop_is_leaked_per_asyncio_run(configured: Path) -> None:
    code = f"""
import asyncio, gc, os
from openmux import ChatOpenMux
from openmux.providers import _http

llm = ChatOpenMux()
asyncio.run(llm.ainvoke("warm up", task="chat"))
gc.collect()
before = len(os.listdir("/proc/self/fd"))
for _ in range({CALLS}):
    assert asyncio.run(llm.ainvoke("ping", task="chat")).text == "pong"
gc.collect()
print(len(os.listdir("/proc/self/fd")) - before, _http.open_loop_pools())
"""
    grown, pools = map(int, run_python(code).split())
    assert pools == 0
    assert grown < 10  # a leak would be one socket per call: {CALLS}


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
def test_running_out_of_descriptors_is_named_and_benches_nothing(
    clean_environment: Path, fake_provider_server: FakeProviderServer
) -> None:
    first = fake_provider_server.add_provider("fake", models=["fake-model"], reply="pong")
    with FakeProviderServer() as elsewhere:  # another port: a request there needs a new socket
        second = elsewhere.add_provider("spare", models=["spare-model"], reply="pong")
        (clean_environment / "openmux.toml").write_text(
            provider_toml(first, second), encoding="utf-8"
        )
        output = run_python(_EXHAUSTION)
    assert "answered" not in output
    assert "file descriptors" in output
    assert "benched: 0" in output


_EXHAUSTION = """
import os, resource
from openmux import ChatOpenMux
from openmux.errors import NoProviderAvailable
from openmux.health import health_store

llm = ChatOpenMux()
llm.invoke("warm up", task="chat", model="fake:fake-model")
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 8, hard))
hoard = []
try:
    while True:
        hoard.append(open(os.devnull))
except OSError:
    pass
try:
    llm.invoke("ping", task="chat", model="spare:spare-model")  # needs a new connection
    print("answered")
except NoProviderAvailable as exc:
    print("error:", str(exc).replace("\\n", " "))
finally:
    for handle in hoard:
        handle.close()
print("benched:", len(health_store(llm.settings.state_dir).benches()))
"""
