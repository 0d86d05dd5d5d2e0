"""Built models are reused but bounded: every distinct `model=` string must not cost forever."""

from __future__ import annotations

import asyncio

from openmux.config import load_settings
from openmux.providers import ModelPool, _http


def test_sync_models_are_bounded_and_reused() -> None:
    settings = load_settings(
        {"providers": {"proxy": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1"}}}
    )
    proxy = settings.providers["proxy"]
    pool = ModelPool(settings.timeouts)
    first = pool.chat(proxy, "model-0")
    for number in range(3 * ModelPool.MAX_MODELS):
        pool.chat(proxy, f"model-{number}")
    assert len(pool._sync) == ModelPool.MAX_MODELS
    assert pool.chat(proxy, "model-0") is not first  # dropped as least recently used
    recent = pool.chat(proxy, f"model-{3 * ModelPool.MAX_MODELS - 1}")
    assert pool.chat(proxy, f"model-{3 * ModelPool.MAX_MODELS - 1}") is recent


def test_async_models_live_and_die_with_their_loop() -> None:
    settings = load_settings(
        {"providers": {"proxy": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1"}}}
    )
    proxy = settings.providers["proxy"]
    pool = ModelPool(settings.timeouts)

    async def build() -> int:
        for number in range(2 * ModelPool.MAX_MODELS):
            pool.chat(proxy, f"model-{number}", aio=True)
        loop = asyncio.get_running_loop()
        return len(_http.loop_cache(loop, pool))

    before = _http.open_loop_pools()
    assert asyncio.run(build()) == ModelPool.MAX_MODELS
    assert _http.open_loop_pools() == before  # closed and dropped with the loop
