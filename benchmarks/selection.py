"""Selection cost with 500 models in the catalog.

Ten loopback providers of 50 models each, every model in the catalog with quality
figures, half of them with observed latencies. A mix of requests (chat, code, tools,
image input, a long prompt, a sticky tool conversation) is selected over and over:

- `select_candidates` as the router calls it (ranked lists cached per task and needs);
- the same with every cache dropped first (what a new kind of request costs);
- the old selection (capability filter, free-only, provider order; no catalog), built
  here from the same settings, as the baseline.

Target: p50 <= 0.2 ms for select_candidates.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROVIDERS = 10
MODELS_PER_PROVIDER = 50


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def build() -> tuple[Any, Any, Any, list[Any]]:
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    from openmux.catalog import Catalog, ModelInfo, Score
    from openmux.classifier import TaskClassification, TaskType
    from openmux.config import load_settings
    from openmux.health import HealthStore
    from openmux.routing import RouteRequest

    names = [f"p{i}" for i in range(PROVIDERS)]
    models = {n: [f"{n}-model-{j}" for j in range(MODELS_PER_PROVIDER)] for n in names}
    config = {
        "router": {"providers": names},
        "providers": {
            n: {"protocol": "openai", "base_url": f"http://127.0.0.1:{9000 + i}/v1", "models": ms}
            for i, (n, ms) in enumerate(models.items())
        },
    }
    state = Path(tempfile.mkdtemp(prefix="openmux-bench-"))
    import os

    os.environ["OPENMUX_STATE_DIR"] = str(state)
    settings = load_settings(config, environ={"OPENMUX_STATE_DIR": str(state)})
    infos = []
    for ms in models.values():
        for j, model_id in enumerate(ms):
            seed = (zlib.crc32(model_id.encode()) & 0xFFFF) / 0xFFFF
            scores = {
                "chat": Score(40 + 45 * seed, "MMLU-Pro", "bench", "2025-07"),
                "code": Score(60 * seed, "Aider polyglot", "bench", "2025-07"),
            }
            if j % 5 == 0:
                scores["vision"] = Score(50 + 30 * seed, "MMMU (val)", "bench", "2025-07")
            infos.append(
                ModelInfo(
                    model_id,
                    aliases=(model_id,),
                    context_length=8_192 if j % 7 == 0 else 131_072,
                    tools=j % 3 != 0,
                    inputs=("text", "image") if j % 5 == 0 else ("text",),
                    scores=scores,
                )
            )
    catalog = Catalog(infos)
    health = HealthStore(None)
    for n, ms in models.items():
        for j, model_id in enumerate(ms[::2]):
            health.record_success(n, model_id, first_token_ms=200.0 + 37 * j)

    def chat(text: str, task: TaskType = TaskType.CHAT, **kwargs: Any) -> Any:
        request = RouteRequest(messages=[HumanMessage(text)], **kwargs)
        request.classification = TaskClassification(task, 0.9, [], "bench")
        return request

    image = [{"type": "image_url", "image_url": {"url": "data:,"}}]
    tools = {"tools": [{"type": "function", "function": {"name": "f"}}]}
    sticky = AIMessage(
        "",
        tool_calls=[{"name": "f", "args": {}, "id": "call_1"}],
        response_metadata={"openmux": {"provider": "p3"}},
    )

    def conversation() -> Any:
        request = RouteRequest(
            messages=[HumanMessage("use f"), sticky, ToolMessage("1", tool_call_id="call_1")],
            call_kwargs=tools,
        )
        request.classification = TaskClassification(TaskType.CHAT, 0.9, [], "bench")
        return request

    factories: list[Callable[[], Any]] = [
        lambda: chat("Explain recursion in one sentence"),
        lambda: chat("Write a Python function that reverses a string", TaskType.CODE),
        lambda: chat("What is the weather in Paris?", call_kwargs=tools),
        lambda: chat(image, TaskType.IMAGE),  # type: ignore[arg-type]
        lambda: chat("summarise: " + "word " * 20_000),
        conversation,
    ]
    return settings, catalog, health, factories


def baseline_select(request: Any, settings: Any) -> list[Any]:
    """The selection before the catalog: capability filter, free-only, provider order."""
    from openmux.routing import Candidate

    task = str(request.classification.task) if request.classification else "chat"
    candidates = []
    rank = 0
    for provider in settings.provider_order():
        if not provider.usable:
            continue
        for entry in provider.models:
            if request.needs_tools and not entry.tools:
                continue
            if request.has_image_input and not entry.vision:
                continue
            rank += 1
            if settings.free_only and not provider.is_free(entry.id):
                continue
            free = "free " if provider.is_free(entry.id) else ""
            reason = f"{task}: {free}model of {provider.name}, #{rank} in provider order"
            candidates.append(Candidate(provider, entry, reason))
    return candidates


def timed(fn: Callable[[Any], Any], factories: list[Callable[[], Any]], rounds: int) -> list[float]:
    requests = [f() for f in factories]
    samples = []
    for i in range(rounds):
        request = requests[i % len(requests)]
        request.hints.clear()
        started = time.perf_counter()
        fn(request)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6_000)
    args = parser.parse_args()

    from openmux.routing import _select

    settings, catalog, health, factories = build()

    def select(request: Any) -> Any:
        return _select.select_candidates(request, settings, {}, catalog=catalog, health=health)

    def cold(request: Any) -> Any:
        _select.clear_cache()
        return select(request)

    def old(request: Any) -> Any:
        return baseline_select(request, settings)

    first = factories[0]()
    count = len(select(first))
    print(f"catalog: {len(catalog.models)} models, {PROVIDERS} providers; {count} candidates")
    for fn in (select, cold, old):  # warm up
        timed(fn, factories, 60)
    rows = [
        ("select_candidates", timed(select, factories, args.rounds)),
        ("  uncached (new plan)", timed(cold, factories, max(300, args.rounds // 20))),
        ("old provider-order", timed(old, factories, max(300, args.rounds // 5))),
    ]
    for label, samples in rows:
        print(
            f"{label:<22} p50 {statistics.median(samples):7.3f} ms   "
            f"p99 {percentile(samples, 0.99):7.3f} ms   ({len(samples)} runs)"
        )
    p50 = statistics.median(rows[0][1])
    print(f"target p50 <= 0.200 ms: {'met' if p50 <= 0.2 else 'MISSED'} ({p50:.3f} ms)")


if __name__ == "__main__":
    main()
