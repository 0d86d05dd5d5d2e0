"""The redacting log filter, and reprs/errors of settings and models that hold keys."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from openmux import _logging
from openmux._logging import RedactingFilter, get_logger, install, redact_any
from openmux._redact import register_secret
from openmux.config import load_settings

KEY = "sk-or-v1-REDACTME0123456789abcdef0123"
ODD = "custom-shape-secret-99887766"  # no key pattern matches this; only registration masks it


@pytest.fixture(autouse=True)
def registered() -> Iterator[None]:
    register_secret(ODD)
    yield


def test_filter_masks_message_and_args(caplog: pytest.LogCaptureFixture) -> None:
    log = get_logger("openmux.tests")
    with caplog.at_level(logging.DEBUG, logger="openmux"):
        log.debug("calling with %s and %r", KEY, {"Authorization": f"Bearer {ODD}"})
    assert KEY not in caplog.text and ODD not in caplog.text
    assert "***" in caplog.text
    record = caplog.records[-1]
    assert record.args is None
    assert KEY not in record.getMessage()


def test_filter_masks_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    log = get_logger("openmux.tests.exc")
    with caplog.at_level(logging.DEBUG, logger="openmux"):
        try:
            raise RuntimeError(f"provider said: invalid key {ODD}")
        except RuntimeError:
            log.exception("request failed")
    assert "request failed" in caplog.text
    assert "invalid key ***" in caplog.text
    assert ODD not in caplog.text


def test_filter_masks_extra_fields() -> None:
    record = logging.LogRecord("openmux", logging.INFO, __file__, 1, "hi", None, None)
    record.header = f"Bearer {KEY}"
    RedactingFilter().filter(record)
    assert record.header == "***"


def test_names_outside_the_package_are_put_under_it() -> None:
    assert get_logger("thing").name == "openmux.thing"
    assert get_logger().name == "openmux"


def test_install_covers_existing_child_loggers(caplog: pytest.LogCaptureFixture) -> None:
    child = logging.getLogger("openmux.made.elsewhere")
    install()
    with caplog.at_level(logging.INFO, logger="openmux"):
        child.info("key=%s", KEY)
    assert KEY not in caplog.text


@pytest.mark.parametrize("name", ["httpx", "httpx2", "httpcore.connection", "openai"])
def test_install_masks_the_http_clients_loggers(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    logging.getLogger(name)  # the client's module made it on import
    install()
    with caplog.at_level(logging.DEBUG, logger=name):
        logging.getLogger(name).debug("headers: %s", {"authorization": f"Bearer {KEY}"})
    assert KEY not in caplog.text


def test_level_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger("openmux")
    before = logger.level
    monkeypatch.setattr(_logging, "_installed", False)
    monkeypatch.setenv("OPENMUX_LOG_LEVEL", "debug")
    try:
        install()
        assert logger.level == logging.DEBUG
    finally:
        logger.setLevel(before)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)


def test_redact_any_walks_json() -> None:
    data = {"a": [KEY, {"b": f"Bearer {ODD}"}], "n": 3, KEY: None}
    assert redact_any(data) == {"a": ["***", {"b": "Bearer ***"}], "n": 3, "***": None}


def test_settings_reprs_hold_no_key() -> None:
    settings = load_settings(api_keys={"openrouter": KEY, "groq": ODD})
    text = repr(settings) + str(settings.providers) + str(settings.sources)
    assert KEY not in text and ODD not in text


def test_chat_model_repr_and_dump_hold_no_key() -> None:
    from openmux import ChatOpenMux

    llm = ChatOpenMux(api_keys={"openrouter": KEY})
    for text in (repr(llm), str(llm), llm.model_dump_json()):
        assert KEY not in text


def test_loaded_keys_are_registered() -> None:
    from openmux._redact import redact

    odd = "never-seen-shape-1234567890"
    load_settings(api_keys={"openrouter": odd})
    assert redact(f"x {odd} y") == "x *** y"
