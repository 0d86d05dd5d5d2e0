"""How long a provider's rate-limit headers ask to wait."""

from __future__ import annotations

import pytest

from openmux.providers import retry_after_seconds

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"retry-after": "30"}, 30.0),
        ({"Retry-After": "Fri, 15 Jan 2027 08:00:30 GMT"}, 30.0),
        ({"x-ratelimit-reset": str((NOW + 90) * 1000)}, 90.0),  # epoch milliseconds
        ({"x-ratelimit-reset": "12"}, 12.0),  # seconds to wait
        ({"retry-after": "1e300"}, 86_400.0),  # garbage: a day at most
        ({"x-ratelimit-reset": str((NOW + 10**9) * 1000)}, 86_400.0),
        ({"retry-after": "inf"}, None),  # no finite wait: the usual bench applies
        ({"retry-after": "nan"}, None),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_the_wait_a_provider_asks_for(headers: dict[str, str], wait: float | None) -> None:
    assert retry_after_seconds(headers, now=NOW) == wait
