"""OpenRouter's daily allowance of `:free` requests, read from `GET /api/v1/key`.

A key that never bought 10 credits (`is_free_tier: true`) gets 50 free-model requests
a day, otherwise 1,000 (https://openrouter.ai/docs/api/reference/limits and
https://openrouter.ai/docs/api-reference/api-keys/get-current-key, checked 2026-12-04).
The key is asked in the background, at most every CHECK_SECONDS per process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from openmux._logging import get_logger

if TYPE_CHECKING:
    from openmux.config import ProviderSettings

CHECK_SECONDS = 6 * 3600.0
FREE_TIER_PER_DAY = 50
WITH_CREDITS_PER_DAY = 1000
TIMEOUT = 5.0

_log = get_logger("openmux.quotas")
_checked: dict[tuple[str, str, str], float] = {}
_lock = threading.Lock()


def daily_free_requests(provider: ProviderSettings) -> int | None:
    """50 or 1,000 as the key's tier says; None when the key endpoint does not answer."""
    import httpx

    from openmux.providers import FetchError, bounded_get

    headers = dict(provider.headers)
    if provider.api_key is not None:
        headers["Authorization"] = f"Bearer {provider.api_key.get_secret_value()}"
    try:
        response = bounded_get(f"{provider.base_url}/key", headers, timeout=TIMEOUT)
        response.raise_for_status()
        data = response.json().get("data")
    except (FetchError, httpx.HTTPError, ValueError, AttributeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("is_free_tier"), bool):
        return None
    return FREE_TIER_PER_DAY if data["is_free_tier"] else WITH_CREDITS_PER_DAY


def check_in_background(
    provider: ProviderSettings, learn: Callable[[int], None], state: str
) -> None:
    """Ask the key endpoint once in a while per `state` (where the answer is kept);
    `learn(requests_per_day)` with the answer."""
    key = (state, provider.name, provider.base_url)
    now = time.monotonic()
    with _lock:
        if now - _checked.get(key, -CHECK_SECONDS) < CHECK_SECONDS:
            return
        _checked[key] = now

    def run() -> None:
        found = daily_free_requests(provider)
        if found is not None:
            _log.info("quota: %s allows %d free-model requests a day", provider.name, found)
            learn(found)

    threading.Thread(target=run, name="openmux-key-check", daemon=True).start()
