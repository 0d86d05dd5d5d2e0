"""Settings precedence and configuration errors that name the file, line and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from openmux import ChatOpenMux, ConfigError
from openmux.config import load_settings
from tests.helpers import run_cli


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    settings = load_settings()
    assert settings.strategy == "best"
    assert settings.free_only is True
    assert (settings.timeouts.connect, settings.timeouts.first_token, settings.timeouts.total) == (
        3,
        20,
        120,
    )
    assert settings.provider_order()[0].name == "openrouter"
    assert settings.providers["openrouter"].api_key is None


def test_precedence_defaults_file_dotenv_env_constructor(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = clean_environment
    _write(work / "openmux.toml", "[timeouts]\ntotal = 50\nconnect = 5\nfirst_token = 7\n")
    assert load_settings().timeouts.total == 50  # file over default

    _write(work / ".env", "OPENROUTER_API_KEY=from-dotenv\nOPENMUX_FREE_ONLY=0\n")
    settings = load_settings()
    assert settings.providers["openrouter"].api_key.get_secret_value() == "from-dotenv"
    assert settings.free_only is False  # .env over the default

    monkeypatch.setenv("OPENROUTER_API_KEY", "from-env")
    monkeypatch.setenv("OPENMUX_FREE_ONLY", "1")
    settings = load_settings()
    assert (
        settings.providers["openrouter"].api_key.get_secret_value() == "from-env"
    )  # env over .env
    assert settings.free_only is True

    llm = ChatOpenMux(timeout=9, free_only=False, api_keys={"openrouter": "from-constructor"})
    assert llm.settings.timeouts.total == 9  # constructor over file
    assert llm.settings.timeouts.connect == 5  # untouched keys keep the file's value
    assert llm.settings.free_only is False
    assert llm.settings.providers["openrouter"].api_key.get_secret_value() == "from-constructor"
    assert llm.settings.sources["timeouts.total"] == "constructor arguments"
    assert llm.settings.sources["timeouts.connect"].endswith("openmux.toml")


def test_dotenv_is_found_in_a_parent_folder_up_to_the_project_root(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(clean_environment / "pyproject.toml", "")
    _write(clean_environment / ".env", "GROQ_API_KEY=gsk_parent\n")
    child = clean_environment / "a" / "b"
    child.mkdir(parents=True)
    monkeypatch.chdir(child)
    assert load_settings().providers["groq"].api_key.get_secret_value() == "gsk_parent"


def test_openmux_config_variable(clean_environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(clean_environment / "custom.toml", '[router]\nstrategy = "ordered"\n')
    monkeypatch.setenv("OPENMUX_CONFIG", str(path))
    assert load_settings().strategy == "ordered"
    monkeypatch.setenv("OPENMUX_CONFIG", str(clean_environment / "missing.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings()
    monkeypatch.setenv("OPENMUX_CONFIG", str(clean_environment))
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings()


def test_user_config_dir_is_the_last_resort(clean_environment: Path) -> None:
    folder = Path.home() / ".config" / "openmux"
    folder.mkdir(parents=True)
    _write(folder / "openmux.toml", "[router]\nfree_only = false\n")
    assert load_settings().free_only is False


def test_malformed_toml_names_file_line_and_fix(clean_environment: Path) -> None:
    path = _write(
        clean_environment / "openmux.toml",
        '[router]\nstrategy = "best"\nproviders = [openrouter]\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_settings()
    error = caught.value
    assert error.source == str(path) and error.line == 3
    assert f"{path}:3:" in str(error) and "fix:" in str(error)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('[router]\nstratgy = "best"\n', 2, "did you mean `strategy`"),
        ('[router]\nstrategy = "fastest"\n', 2, '"best" or "ordered"'),
        ("[timeouts]\n\nconnect = -1\n", 3, "positive"),
        ('[providers.x]\nprotocol = "grpc"\nbase_url = "http://127.0.0.1:1/v1"\n', 2, "protocol"),
        ('[providers.x]\nbase_url = "https://example.com/v1"\n', 1, "protocol"),
        (
            '[providers.x]\nprotocol = "openai"\nbase_url = "https://example.com/v1"\n',
            1,
            "free = true",
        ),
        ("[providers.groq]\nenabled = 1\n", 2, "true or false"),
        ('[providers.groq]\nmodels = "llama"\n', 2, "list of strings"),
        ('[router]\nproviders = ["nope"]\n', None, "unknown provider"),
    ],
)
def test_invalid_values_are_explained(
    clean_environment: Path, text: str, line: int | None, message: str
) -> None:
    _write(clean_environment / "openmux.toml", text)
    with pytest.raises(ConfigError, match="fix") as caught:
        load_settings()
    assert message in str(caught.value)
    if line is not None:
        assert caught.value.line == line


def test_provider_overrides_merge_field_by_field(clean_environment: Path) -> None:
    _write(
        clean_environment / "openmux.toml",
        '[providers.openrouter]\nbase_url = "http://127.0.0.1:8000/api/v1"\n'
        "[providers.groq]\nenabled = false\n"
        '[providers.myproxy]\nprotocol = "openai"\n'
        'base_url = "http://127.0.0.1:9000/v1"\nmodels = ["m"]\n',
    )
    settings = load_settings()
    openrouter = settings.providers["openrouter"]
    assert openrouter.base_url == "http://127.0.0.1:8000/api/v1"
    assert openrouter.headers["X-OpenRouter-Title"] == "OpenMux"  # kept from the table
    assert "groq" not in [p.name for p in settings.provider_order()]
    proxy = settings.providers["myproxy"]
    assert proxy.free and proxy.local  # loopback providers are free
    assert [m.id for m in proxy.models] == ["m"]


def test_host_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:11500")
    monkeypatch.setenv("LMSTUDIO_BASE_URL", "http://127.0.0.1:1300")
    settings = load_settings()
    assert settings.providers["ollama"].base_url == "http://127.0.0.1:11500"
    assert settings.providers["lmstudio"].base_url == "http://127.0.0.1:1300/v1"


def test_offline_keeps_local_providers_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENMUX_OFFLINE", "1")
    names = [p.name for p in load_settings().provider_order()]
    assert names == ["ollama", "lmstudio", "llamacpp"] or all(
        load_settings().providers[n].local for n in names
    )


def test_bad_flag_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENMUX_FREE_ONLY", "maybe")
    with pytest.raises(ConfigError, match="OPENMUX_FREE_ONLY=1"):
        load_settings()


def test_keys_never_show_in_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-distinctive-secret-123")
    settings = load_settings()
    llm = ChatOpenMux(api_keys={"groq": "gsk_another_distinctive_secret"})
    for text in (repr(settings), str(settings), repr(llm), str(llm.settings)):
        assert "distinctive" not in text


def test_privacy_table(clean_environment: Path) -> None:
    _write(
        clean_environment / "openmux.toml",
        '[privacy]\nscrub_pii = true\naudit_log = "audit.jsonl"\n',
    )
    privacy = load_settings().privacy
    assert privacy.scrub_pii is True
    assert privacy.audit_log == clean_environment / "audit.jsonl"
    _write(clean_environment / "openmux.toml", "[privacy]\n\nscrub = true\n")
    with pytest.raises(ConfigError, match="scrub_pii") as caught:
        load_settings()
    assert caught.value.line == 3


URL_PASSWORD = "hunter2-url-password"


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("not a url", "is not an http(s) URL"),
        ("", "is not an http(s) URL"),
        ("ftp://127.0.0.1/v1", "is not an http(s) URL"),
        ("//collector.example.net/v1", "is not an http(s) URL"),
        ("http:///v1", "names no host"),
        ("http://[::1/v1", "is not a URL"),
        (f"http://u:{URL_PASSWORD}@[::1/v1", "is not a URL"),
        ("http://127.0.0.1:99999/v1", "is not a URL"),
        (f"http://u:{URL_PASSWORD}@127.0.0.1:8000/v1?key=1", "query"),
        ("http://127.0.0.1:8000/v1#top", "query"),
    ],
)
def test_a_base_url_that_cannot_be_called_is_named(
    clean_environment: Path, base_url: str, message: str
) -> None:
    text = f'[providers.mine]\nprotocol = "openai"\nfree = true\nbase_url = "{base_url}"\n'
    path = _write(clean_environment / "openmux.toml", text)
    with pytest.raises(ConfigError, match="fix") as caught:
        load_settings()
    assert message in str(caught.value) and caught.value.line == 4
    assert URL_PASSWORD not in str(caught.value)
    result = run_cli("config", "validate", str(path))
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in output and message in output
    assert URL_PASSWORD not in output


def test_keys_are_trimmed_and_unusable_ones_named(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "gsk_0123456789abcdefTRIMCANARY"
    monkeypatch.setenv("GROQ_API_KEY", f" {key}\r\n")
    settings = load_settings(api_keys={"mistral": f"{key}\n"})
    for name in ("groq", "mistral"):
        api_key = settings.providers[name].api_key
        assert api_key is not None and api_key.get_secret_value() == key
    monkeypatch.setenv("GROQ_API_KEY", "gsk_0123456789 abcdefTRIMCANARY")
    with pytest.raises(ConfigError, match="GROQ_API_KEY") as caught:
        load_settings()
    with pytest.raises(ConfigError, match=r"api_keys\['groq'\]") as given:
        load_settings(api_keys={"groq": "gsk_0123456789abcdéfTRIMCANARY"})
    for error in (caught.value, given.value):
        assert "fix:" in str(error) and "CANARY" not in str(error)


@pytest.mark.parametrize("key", ["connect", "first_token", "total"])
def test_a_timeout_longer_than_a_day_is_named(clean_environment: Path, key: str) -> None:
    # Waits this long overflow the platform's clock: every request failed as a bad response.
    _write(clean_environment / "openmux.toml", f"[timeouts]\n{key} = 1e10\n")
    with pytest.raises(ConfigError, match="at most 86400") as caught:
        load_settings()
    assert caught.value.line == 2
    _write(clean_environment / "openmux.toml", f"[timeouts]\n{key} = 86400\n")
    assert getattr(load_settings().timeouts, key) == 86400
    with pytest.raises(ConfigError, match="at most 86400"):
        ChatOpenMux(timeout=1e12)
