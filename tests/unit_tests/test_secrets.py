"""Stored keys: the OS keyring (a real file-based backend), the encrypted file, .env files."""

from __future__ import annotations

import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from openmux._redact import redact
from openmux.config import _keyring_store, _secrets, load_settings
from openmux.config._secrets import (
    KeyringStatus,
    SecretsError,
    key_locations,
    mask,
    remove_key,
    set_key,
    stored_key,
    stored_key_with_source,
    stored_providers,
    validate_key_text,
)
from tests.helpers import run_child

KEY = "sk-or-v1-unitkey0123456789abcdef0123456789"
OTHER = "gsk_groqkey0123456789abcdefABCDEF"
PLAINTEXT = "keyrings.alt.file.PlaintextKeyring"


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    _secrets.clear_cache()
    _secrets.unlock(None)
    yield
    _secrets.clear_cache()
    _secrets.unlock(None)


@pytest.fixture
def file_keyring(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """keyrings.alt's PlaintextKeyring: a real backend keeping its file under the temp HOME."""
    pytest.importorskip("keyrings.alt")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", PLAINTEXT)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home" / ".local" / "share"))
    return tmp_path / "home" / ".local" / "share"


@pytest.fixture
def passphrase(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(_secrets.PASSPHRASE_ENV, "correct horse battery staple")
    return "correct horse battery staple"


def test_nothing_stored_means_none_without_importing_keyring() -> None:
    code = (
        "import sys\n"
        "from openmux.config import load_settings\n"
        "from openmux.config._secrets import stored_key\n"
        "settings = load_settings()\n"
        "assert stored_key('openrouter') is None\n"
        "assert settings.providers['openrouter'].api_key is None\n"
        "print('keyring' in sys.modules)\n"
    )
    result = run_child([sys.executable, "-c", code])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_keyring_round_trip_and_settings_lookup(file_keyring: Path) -> None:
    assert _secrets.keyring_status().usable
    set_key("openrouter", KEY, "keyring")
    assert stored_providers() == {"openrouter": ["keyring"]}
    found = stored_key_with_source("openrouter")
    assert found is not None
    assert found[0].get_secret_value() == KEY
    assert found[1] == "keyring"
    settings = load_settings()
    key = settings.providers["openrouter"].api_key
    assert key is not None and key.get_secret_value() == KEY
    assert settings.sources["providers.openrouter.api_key"] == "keyring"
    assert stored_key("groq") is None
    # The index names providers only; the key itself is in the backend's file.
    assert KEY not in _secrets.keyfile_path().read_text()


def test_lookup_order_constructor_env_dotenv_then_store(
    file_keyring: Path, monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    set_key("openrouter", KEY, "keyring")
    (clean_environment / ".env").write_text("OPENROUTER_API_KEY=sk-or-v1-fromdotenv-0123456789\n")
    settings = load_settings()
    assert settings.providers["openrouter"].api_key == SecretStr("sk-or-v1-fromdotenv-0123456789")
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-fromenvironment-0123")
    settings = load_settings()
    assert settings.providers["openrouter"].api_key == SecretStr("sk-or-v1-fromenvironment-0123")
    settings = load_settings(api_keys={"openrouter": "sk-or-v1-fromconstructor-01"})
    assert settings.providers["openrouter"].api_key == SecretStr("sk-or-v1-fromconstructor-01")
    assert "providers.openrouter.api_key" not in settings.sources


def test_loaded_keys_are_registered_for_redaction(file_keyring: Path) -> None:
    odd = "zz-unusual-key-shape-4242424242"  # no built-in pattern matches this shape
    set_key("groq", odd, "keyring")
    _secrets.clear_cache()
    load_settings()
    assert redact(f"header: {odd}") == "header: ***"


def test_encrypted_file_round_trip(passphrase: str) -> None:
    path = set_key("groq", OTHER, "file")
    assert path == _secrets.keyfile_path()
    text = path.read_text()
    assert OTHER not in text and "groqkey" not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    _secrets.clear_cache()
    found = stored_key_with_source("groq")
    assert found is not None
    assert found == (SecretStr(OTHER), "encrypted file")
    assert load_settings().providers["groq"].api_key == SecretStr(OTHER)


def test_encrypted_file_needs_the_passphrase(
    passphrase: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    set_key("groq", OTHER, "file")
    _secrets.unlock(None)
    monkeypatch.delenv(_secrets.PASSPHRASE_ENV)
    assert stored_key("groq") is None
    locations = key_locations("groq", ("GROQ_API_KEY",))
    assert [(loc.source, loc.detail.split(":")[0]) for loc in locations] == [
        ("encrypted file", "locked")
    ]
    monkeypatch.setenv(_secrets.PASSPHRASE_ENV, "wrong passphrase")
    with caplog.at_level("WARNING", logger="openmux"):
        assert stored_key("groq") is None
    assert "wrong passphrase" in caplog.text
    _secrets.unlock(passphrase)
    assert stored_key("groq") == SecretStr(OTHER)


def test_second_key_must_use_the_same_passphrase(passphrase: str) -> None:
    set_key("groq", OTHER, "file")
    with pytest.raises(SecretsError, match="wrong passphrase"):
        set_key("openrouter", KEY, "file", passphrase="another one")
    set_key("openrouter", KEY, "file")
    assert stored_providers() == {"groq": ["encrypted file"], "openrouter": ["encrypted file"]}


def test_file_store_without_passphrase_is_refused() -> None:
    with pytest.raises(SecretsError, match=_secrets.PASSPHRASE_ENV):
        set_key("groq", OTHER, "file")


def test_remove_key(file_keyring: Path, passphrase: str) -> None:
    set_key("openrouter", KEY, "keyring")
    set_key("openrouter", KEY, "file")
    assert stored_providers() == {"openrouter": ["keyring", "encrypted file"]}
    assert remove_key("openrouter") == ["keyring", "encrypted file"]
    assert stored_key("openrouter") is None
    assert stored_providers() == {}
    import keyring

    assert keyring.get_password("openmux", "openrouter") is None
    assert remove_key("openrouter") == []


def test_unusable_keyring_is_reported_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    status = _secrets.keyring_status()
    assert not status.usable
    with pytest.raises(SecretsError, match="not usable"):
        set_key("openrouter", KEY, "keyring")


class _HangingBackend:
    def __init__(self) -> None:
        self.release = threading.Event()

    def get_password(self, service: str, user: str) -> str | None:
        self.release.wait(30)
        return None

    def set_password(self, service: str, user: str, value: str) -> None:
        return None


def test_a_hanging_keyring_times_out_and_is_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    backend = _HangingBackend()

    def load() -> tuple[Any, KeyringStatus]:
        return backend, KeyringStatus(True, "tests.Hanging")

    monkeypatch.setattr(_keyring_store, "_load_backend", load)
    monkeypatch.setattr(_keyring_store, "KEYRING_TIMEOUT", 0.2)
    set_key("openrouter", KEY, "keyring")
    try:
        with caplog.at_level("WARNING", logger="openmux"):
            assert stored_key("openrouter") is None
        assert "did not answer" in caplog.text
        assert not _secrets.keyring_status().usable
        _secrets._values.clear()
        assert stored_key("openrouter") is None  # no second wait: the backend is benched
    finally:
        backend.release.set()


def test_dotenv_write_keeps_other_lines_and_is_private(clean_environment: Path) -> None:
    env = clean_environment / ".env"
    env.write_text("# mine\nOTHER=1\nOPENROUTER_API_KEY=old-value-000000\n")
    env.chmod(0o644)
    _secrets.write_dotenv_key(env, "OPENROUTER_API_KEY", KEY)
    assert env.read_text() == f"# mine\nOTHER=1\nOPENROUTER_API_KEY={KEY}\n"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert load_settings().providers["openrouter"].api_key == SecretStr(KEY)
    assert _secrets.remove_dotenv_key(env, "OPENROUTER_API_KEY")
    assert env.read_text() == "# mine\nOTHER=1\n"
    assert not _secrets.remove_dotenv_key(env, "OPENROUTER_API_KEY")


def test_key_locations_in_lookup_order(
    file_keyring: Path, monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    set_key("openrouter", KEY, "keyring")
    (clean_environment / ".env").write_text(f"OPENROUTER_API_KEY={KEY}\n")
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    found = key_locations("openrouter", ("OPENROUTER_API_KEY",))
    assert [loc.source for loc in found] == ["environment", ".env", "keyring"]
    assert all(loc.masked == mask(KEY) for loc in found)
    assert all(KEY not in repr(loc) for loc in found)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(KEY, "sk-o…6789"), ("short", "****"), (SecretStr(KEY), "sk-o…6789"), (None, "")],
)
def test_mask(value: Any, shown: str) -> None:
    assert mask(value) == shown


@pytest.mark.parametrize("bad", ["", "   ", "two words", 'quo"te', "new\nline"])
def test_validate_key_text_rejects(bad: str) -> None:
    with pytest.raises(SecretsError):
        validate_key_text(bad)


def test_validate_key_text_strips() -> None:
    assert validate_key_text(f"  {KEY}\n") == KEY
