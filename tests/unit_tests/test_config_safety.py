"""Settings that could leak keys or switch free-only off quietly, and unclear settings errors."""

from __future__ import annotations

import logging
import math
import stat
from pathlib import Path

import pytest

from openmux import ChatOpenMux, ConfigError
from openmux._redact import redact
from openmux.config import _warnings, explain_no_candidates, load_settings
from tests.helpers import run_cli

KEY = "sk-or-v1-BORROWCANARY0123456789abcdef0123456789"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- item 5


REDIRECT = '[providers.openrouter]\nbase_url = "https://collector.example.net/api/v1"\n'
BORROW = (
    '[providers.mirror]\nprotocol = "openai"\nbase_url = "https://collector.example.net/v1"\n'
    'api_key_env = "OPENROUTER_API_KEY"\nfree = true\n'
)


@pytest.mark.parametrize("text", [REDIRECT, BORROW], ids=["redirect", "borrowed variable"])
def test_a_project_config_cannot_send_a_key_elsewhere(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    path = _write(clean_environment / "openmux.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert str(path) in message
    assert "collector.example.net" in message and "openrouter.ai" in message
    assert f"OPENMUX_CONFIG={path}" in message  # how to trust it
    assert KEY not in message


def test_the_users_own_config_may_redirect(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = _write(Path.home() / ".config" / "openmux" / "openmux.toml", REDIRECT)
    assert load_settings().providers["openrouter"].base_url.startswith("https://collector")
    project = _write(clean_environment / "openmux.toml", REDIRECT)
    monkeypatch.setenv("OPENMUX_CONFIG", str(project))  # named by the user: trusted
    assert load_settings().config_file == project
    assert own.is_file()


def test_a_project_config_may_point_at_loopback_or_the_same_host(clean_environment: Path) -> None:
    _write(
        clean_environment / "openmux.toml",
        '[providers.openrouter]\nbase_url = "http://127.0.0.1:8000/api/v1"\n'
        '[providers.groq]\nbase_url = "https://api.groq.com/openai/v2"\n',
    )
    settings = load_settings()
    assert settings.providers["openrouter"].base_url == "http://127.0.0.1:8000/api/v1"


# --------------------------------------------------------------------------- items 6 and 7

URL_SECRET = "hunter2-url-password"
HEADER_SECRET = "hdr-secret-0f9e8d7c6b5a"


def test_url_credentials_and_headers_are_masked(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENMUX_CONFIG", str(clean_environment / "openmux.toml"))
    _write(
        clean_environment / "openmux.toml",
        f'[providers.openrouter]\nbase_url = "https://alice:{URL_SECRET}@proxy.example.com/v1"\n'
        f'headers = {{ X-Api-Key = "{HEADER_SECRET}" }}\n',
    )
    llm = ChatOpenMux()
    for text in (repr(llm.settings), repr(vars(llm)), str(llm.settings.providers)):
        assert URL_SECRET not in redact(text)
        assert HEADER_SECRET not in text
    provider = llm.settings.providers["openrouter"]
    assert provider.headers["X-Api-Key"] == HEADER_SECRET  # still sent
    assert redact(provider.base_url) == "https://***@proxy.example.com/v1"
    assert redact(f"error from {HEADER_SECRET}") == "error from ***"
    for args in (("config", "show"), ("config", "show", "--json"), ("doctor",)):
        result = run_cli(*args, timeout=120)
        assert URL_SECRET not in result.stdout + result.stderr, args
        assert HEADER_SECRET not in result.stdout + result.stderr, args


def test_httpx_request_logs_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    from openmux._logging import install

    install()
    logger = logging.getLogger("httpx")
    with caplog.at_level(logging.INFO, logger="httpx"):
        logger.info('HTTP Request: %s %s "%s"', "GET", f"https://bob:{URL_SECRET}@h/v1", "200")
    assert URL_SECRET not in caplog.text and "https://***@h/v1" in caplog.text


# --------------------------------------------------------------------------- item 9


def test_dotenv_above_the_project_root_is_not_read(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(clean_environment / ".env", "OPENMUX_FREE_ONLY=0\n")
    project = clean_environment / "project"
    _write(project / "pyproject.toml", "")
    monkeypatch.chdir(project)
    assert load_settings().free_only is True


def test_turning_free_only_off_is_reported_once_naming_the_file(
    clean_environment: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_warnings, "_said", set())
    dotenv = _write(clean_environment / ".env", "OPENMUX_FREE_ONLY=0\n")
    with caplog.at_level(logging.WARNING, logger="openmux"):
        for _ in range(5):
            assert load_settings().free_only is False
    warnings = [r.getMessage() for r in caplog.records if "free_only is off" in r.getMessage()]
    assert len(warnings) == 1 and str(dotenv) in warnings[0]


# --------------------------------------------------------------------------- item 11


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_non_finite_numbers_are_rejected(clean_environment: Path, value: str) -> None:
    path = _write(clean_environment / "openmux.toml", f"[timeouts]\ntotal = {value}\n")
    with pytest.raises(ConfigError, match="finite"):
        load_settings()
    with pytest.raises(ConfigError, match="finite"):
        load_settings({"router": {"hedge_after_ms": math.inf}})
    result = run_cli("config", "validate", str(path))
    assert result.returncode == 1 and "finite" in result.stdout + result.stderr


# --------------------------------------------------------------------------- item 15


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"router": {"providers": []}}, "providers = [] allows no provider"),
        ({"timeouts": {"total": 0.0001}}, "timeouts.total = 0.0001 s is too short"),
        (
            {"router": {"providers": ["groq"]}, "providers": {"groq": {"models": []}}},
            "models = [] in [providers.groq]",
        ),
        (
            {"router": {"providers": ["groq", "ollama"], "exclude": ["groq", "ollama"]}},
            "exclude = ['groq', 'ollama'] removes every candidate",
        ),
    ],
)
def test_the_real_cause_is_named(overrides: dict[str, object], expected: str) -> None:
    explanation = explain_no_candidates(load_settings(overrides))
    assert explanation is not None and expected in explanation
    assert "constructor arguments" in explanation


def test_no_cause_when_settings_leave_candidates() -> None:
    assert explain_no_candidates(load_settings()) is None


def test_a_bad_log_level_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENMUX_LOG_LEVEL", "loud")
    with pytest.raises(ConfigError, match="OPENMUX_LOG_LEVEL"):
        load_settings()
    result = run_cli("config", "show")
    assert result.returncode != 0 and "OPENMUX_LOG_LEVEL" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- item 3 helper


def test_config_with_secrets_is_written_private(tmp_path: Path) -> None:
    from openmux.cli._config_edit import write_config

    plain, secret = tmp_path / "plain.toml", tmp_path / "secret.toml"
    write_config(plain, '[router]\nstrategy = "best"\n')
    write_config(secret, f'[providers.x]\nbase_url = "https://u:{URL_SECRET}@h/v1"\n')
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert plain.read_text() == '[router]\nstrategy = "best"\n'
