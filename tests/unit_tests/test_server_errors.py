"""The status `openmux serve` answers for a router failure, from its attempts."""

from __future__ import annotations

from openmux.errors import NoProviderAvailable
from openmux.server._errors import from_openmux_error


def _status(*kinds: str) -> tuple[int, str | None]:
    attempts = [
        {"provider": f"p{i}", "model": "m", "status": kind, "error": "wait 7 s"}
        for i, kind in enumerate(kinds)
    ]
    error = from_openmux_error(
        NoProviderAvailable("none answered", attempts=attempts), elapsed_s=0.1, total_timeout_s=60
    )
    return error.status, error.headers.get("retry-after")


def test_models_that_cannot_take_the_request_do_not_hide_one_that_asks_for_a_wait() -> None:
    # A speech format or a recording size only one model takes, and that one rate-limited:
    # asking again later is the answer, not "nothing can answer".
    assert _status("http_4xx", "rate_limited") == (429, "7")
    assert _status("context_length", "over_quota") == (429, "7")


def test_every_model_refusing_is_a_bad_request_and_a_failure_is_unavailable() -> None:
    assert _status("http_4xx", "context_length")[0] == 400
    assert _status("rate_limited", "server_error")[0] == 503
    assert _status("rate_limited", "circuit_open") == (429, "7")
