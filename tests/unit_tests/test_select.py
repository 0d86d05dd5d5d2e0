"""Selection decisions, table-driven: capability filters, quality, policies, pins, free-only.

Providers are loopback configs that are never called; the catalog is built here, so
the expected orders follow from the figures below and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from openmux.catalog import Catalog, ModelInfo, Score
from openmux.classifier import TaskClassification, TaskType
from openmux.config import load_settings
from openmux.health import PROVIDER_WIDE, HealthStore
from openmux.routing import RouteRequest, select_candidates


def _model(
    model_id: str,
    *,
    chat: float | None = None,
    code: float | None = None,
    vision: float | None = None,
    context: int | None = None,
    tools: bool = True,
) -> ModelInfo:
    scores = {}
    for task, value, metric in (
        ("chat", chat, "MMLU-Pro"),
        ("code", code, "Aider polyglot"),
        ("vision", vision, "MMMU (val)"),
    ):
        if value is not None:
            scores[task] = Score(value, metric, f"{metric} source", "2025-01")
    return ModelInfo(
        model_id,
        context_length=context,
        tools=tools,
        inputs=("text", "image") if vision is not None else ("text",),
        scores=scores,
    )


CATALOG = Catalog(
    [
        _model("generalist", chat=80, code=20, context=131_072),
        _model("big-coder", chat=50, code=60, context=32_768),
        _model("seer", chat=60, vision=70, tools=False, context=131_072),
        _model("tiny", chat=30, code=5, context=4_096),
        _model("longctx", chat=55, context=1_000_000),
        _model("pricey", chat=90, code=70, context=131_072),
    ]
)

BASE: dict[str, Any] = {
    "router": {"providers": ["alpha", "beta", "gamma"]},
    "providers": {
        "alpha": {
            "protocol": "openai",
            "base_url": "http://127.0.0.1:9/alpha/v1",
            "models": ["generalist", "tiny", "mystery"],
        },
        "beta": {
            "protocol": "openai",
            "base_url": "http://127.0.0.1:9/beta/v1",
            "models": ["big-coder", "seer", "generalist"],
        },
        "gamma": {
            "protocol": "openai",
            "base_url": "https://paid.invalid/v1",
            "free": False,
            "models": ["pricey"],
        },
        "delta": {
            "protocol": "openai",
            "base_url": "http://127.0.0.1:9/delta/v1",
            "models": ["longctx"],
        },
    },
}


def _config(**router: Any) -> dict[str, Any]:
    config = {"router": {**BASE["router"], **router}, "providers": BASE["providers"]}
    return config


IMAGE: list[str | dict[Any, Any]] = [{"type": "image_url", "image_url": {"url": "data:,"}}]
TOOLS = {"tools": [{"type": "function", "function": {"name": "lookup"}}]}


def _sticky_history(provider: str) -> list[Any]:
    call = AIMessage(
        "",
        tool_calls=[{"name": "lookup", "args": {}, "id": "call_1"}],
        response_metadata={"openmux": {"provider": provider}},
    )
    return [HumanMessage("look it up"), call, ToolMessage("42", tool_call_id="call_1")]


@dataclass
class Case:
    name: str
    expected: list[str] | None = None
    """The full ranked list as "provider:model"; None to check only `check`."""
    router: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] | None = None
    messages: Any = "hello"
    task: TaskType = TaskType.CHAT
    call_kwargs: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    free_only: bool | None = None
    latencies: dict[tuple[str, str], float] = field(default_factory=dict)
    benched: list[tuple[str, str]] = field(default_factory=list)
    check: Callable[[list[Any], RouteRequest], None] | None = None


def _hint_contains(text: str) -> Callable[[list[Any], RouteRequest], None]:
    def check(candidates: list[Any], request: RouteRequest) -> None:
        assert any(text in hint for hint in request.hints), request.hints

    return check


def _only_not_free_attempts(candidates: list[Any], request: RouteRequest) -> None:
    assert [a.status for a in request.attempts] == ["not_free"]
    assert any("free_only = false" in hint for hint in request.hints)


def _reasons_contain(*words: str) -> Callable[[list[Any], RouteRequest], None]:
    def check(candidates: list[Any], request: RouteRequest) -> None:
        assert candidates
        for word in words:
            assert word in candidates[0].reason, (word, candidates[0].reason)

    return check


CHAT_ORDER = [
    "alpha:generalist",  # 80; alpha before beta on a tie (provider order)
    "beta:generalist",
    "beta:seer",  # 60
    "alpha:mystery",  # unknown: neutral = median chat score (57.5)
    "beta:big-coder",  # 50
    "alpha:tiny",  # 30
]

CASES = [
    Case("chat ranks by chat quality, unknown model neutral", CHAT_ORDER),
    Case(
        "code ranks by code quality; models without a code score are neutral",
        [
            "beta:big-coder",  # 60
            "alpha:mystery",  # unknown: the median code score (40)
            "beta:seer",  # no code score: neutral too; then provider order
            "alpha:generalist",  # 20
            "beta:generalist",
            "alpha:tiny",  # 5
        ],
        task=TaskType.CODE,
    ),
    Case(
        "tools bound: tool-capable only (unknown models are assumed to do tools)",
        [c for c in CHAT_ORDER if c != "beta:seer"],
        call_kwargs=TOOLS,
        check=_reasons_contain("tool-capable"),
    ),
    Case(
        "image content: vision models only, ranked by the vision score",
        ["beta:seer"],
        messages=[HumanMessage(IMAGE)],
        task=TaskType.IMAGE,
        check=_reasons_contain("vision", "MMMU (val)"),
    ),
    Case(
        "image content and tools: nothing qualifies",
        [],
        messages=[HumanMessage(IMAGE)],
        call_kwargs=TOOLS,
    ),
    Case(
        "long prompt: models with too small a context drop out; unknown context stays",
        ["alpha:generalist", "beta:generalist", "beta:seer", "alpha:mystery", "beta:big-coder"],
        messages="x" * 40_000,  # ~10,000 tokens: more than tiny's 4,096
        check=_reasons_contain("prompt over 4096 tokens"),
    ),
    Case(
        "longer still: only long-context and unknown models",
        ["alpha:generalist", "beta:generalist", "beta:seer", "alpha:mystery"],
        messages="x" * 200_000,  # ~50,000 tokens: more than big-coder's 32,768
    ),
    Case(
        "a prompt no model fits: the largest context first, with a hint",
        ["alpha:generalist", "beta:seer", "beta:generalist", "beta:big-coder", "alpha:tiny"],
        router={"exclude": ["mystery"]},
        messages="x" * 800_000,
        check=_hint_contains("longer than every candidate"),
    ),
    Case(
        "a huge prompt: only long-context and unknown-context models remain",
        ["alpha:mystery", "delta:longctx"],
        router={"providers": ["alpha", "delta"], "exclude": ["alpha:generalist"]},
        messages="x" * 800_000,
    ),
    Case(
        "prefer a model at one provider",
        ["beta:big-coder"] + [c for c in CHAT_ORDER if c != "beta:big-coder"],
        router={"prefer": ["beta:big-coder"]},
        check=_reasons_contain("preferred (beta:big-coder)"),
    ),
    Case(
        "prefer a provider, then a model id anywhere, in the listed order",
        ["delta:longctx", "alpha:tiny"] + [c for c in CHAT_ORDER if c != "alpha:tiny"],
        router={"providers": ["alpha", "beta", "delta"], "prefer": ["delta", "tiny"]},
    ),
    Case(
        "exclude a model id everywhere",
        [c for c in CHAT_ORDER if not c.endswith(":generalist")],
        router={"exclude": ["generalist"]},
    ),
    Case(
        "exclude a provider",
        ["beta:generalist", "beta:seer", "beta:big-coder"],
        router={"exclude": ["alpha"]},
    ),
    Case(
        "allow-list restricts and orders providers",
        ["beta:generalist", "beta:seer", "beta:big-coder"],
        router={"providers": ["beta"]},
    ),
    Case(
        "strategy ordered: pure provider order, quality ignored",
        [
            "alpha:generalist",
            "alpha:tiny",
            "alpha:mystery",
            "beta:big-coder",
            "beta:seer",
            "beta:generalist",
        ],
        router={"strategy": "ordered"},
        check=_reasons_contain("#1 in provider order"),
    ),
    Case(
        "strategy ordered still honours prefer and exclude",
        ["beta:seer", "alpha:generalist", "alpha:mystery", "beta:big-coder", "beta:generalist"],
        router={"strategy": "ordered", "prefer": ["seer"], "exclude": ["tiny"]},
    ),
    Case(
        "quality policy: the faster copy of the same model first",
        ["beta:generalist", "alpha:generalist", *CHAT_ORDER[2:]],
        latencies={("alpha", "generalist"): 3_000.0, ("beta", "generalist"): 200.0},
        check=_reasons_contain("p95 0.2 s"),
    ),
    Case(
        "quality policy: latency never beats quality",
        ["beta:generalist", "alpha:generalist", *CHAT_ORDER[2:]],
        latencies={("alpha", "generalist"): 9_000.0, ("alpha", "tiny"): 50.0},
    ),
    Case(
        "latency policy: fast first, unmeasured neutral, slow last",
        [
            "alpha:tiny",
            "beta:generalist",
            "beta:seer",
            "alpha:mystery",
            "beta:big-coder",
            "alpha:generalist",
        ],
        router={"policy": "latency"},
        latencies={("alpha", "generalist"): 9_000.0, ("alpha", "tiny"): 50.0},
    ),
    Case(
        "balanced policy: a slow top model gives way to a fast good one",
        ["beta:generalist", "beta:seer", "alpha:generalist", *CHAT_ORDER[3:]],
        router={"policy": "balanced"},
        latencies={
            ("alpha", "generalist"): 30_000.0,
            ("beta", "generalist"): 400.0,
            ("beta", "seer"): 400.0,
        },
    ),
    Case(
        "free_only: a paid model is never a candidate",
        CHAT_ORDER,
        router={"providers": ["alpha", "beta", "gamma"]},
    ),
    Case(
        "free_only with only paid models: none, recorded as not_free with a hint",
        [],
        router={"providers": ["gamma"]},
        check=_only_not_free_attempts,
    ),
    Case(
        "free_only off: the paid model competes on quality",
        ["gamma:pricey", *CHAT_ORDER],
        free_only=False,
        check=_reasons_contain("paid"),
    ),
    Case(
        "sticky: the provider of the conversation's tool calls goes first",
        ["beta:generalist", "beta:big-coder", "alpha:generalist", "alpha:mystery", "alpha:tiny"],
        messages=_sticky_history("beta"),
        call_kwargs=TOOLS,
    ),
    Case(
        "a benched candidate keeps its rank (the call step skips it) and says so",
        CHAT_ORDER,
        benched=[("alpha", "generalist")],
        check=_reasons_contain("benched"),
    ),
    Case(
        "a provider-wide bench is reported on each of its models",
        CHAT_ORDER,
        benched=[("alpha", PROVIDER_WIDE)],
        check=_reasons_contain("benched"),
    ),
    Case(
        "a model asked for by name: every provider that lists it, in provider order",
        ["alpha:generalist", "beta:generalist"],
        model="generalist",
        check=_reasons_contain("asked for by name"),
    ),
    Case(
        "PROVIDER:ID pins the provider, even for an excluded model",
        ["beta:generalist"],
        model="beta:generalist",
        router={"exclude": ["generalist"]},
    ),
    Case(
        "an id nobody lists is still tried at each provider",
        ["alpha:brand-new", "beta:brand-new"],
        model="brand-new",
    ),
    Case(
        "everything unavailable: no key, no candidates, a hint per provider",
        [],
        config={"router": {"providers": ["groq", "cerebras"]}},
        check=_hint_contains("GROQ_API_KEY"),
    ),
    Case(
        "reasons name the score, its source and date",
        None,
        task=TaskType.CODE,
        check=_reasons_contain(
            "code: big-coder scores 60 on Aider polyglot (Aider polyglot source, 2025-01)",
            "free",
            "healthy",
            "no latency yet",
        ),
    ),
    Case(
        "an unknown model's reason says it is neutral",
        None,
        model=None,
        router={"providers": ["alpha"], "exclude": ["generalist", "tiny"]},
        check=_reasons_contain("mystery is not in the catalog (neutral score)"),
    ),
]


def _select(case: Case) -> tuple[list[Any], RouteRequest]:
    config = case.config if case.config is not None else _config(**case.router)
    overrides: dict[str, Any] = dict(config)
    if case.free_only is not None:
        overrides["router"] = {**overrides["router"], "free_only": case.free_only}
    settings = load_settings(overrides)
    health = HealthStore(None)
    for (provider, model), ms in case.latencies.items():
        health.record_success(provider, model, first_token_ms=ms)
    for provider, model in case.benched:
        health.record_failure(provider, model, reason="rate_limited", bench_for=60)
    messages = case.messages
    if isinstance(messages, str):
        messages = [HumanMessage(messages)]
    request = RouteRequest(messages=messages, call_kwargs=case.call_kwargs, model=case.model)
    request.classification = TaskClassification(case.task, 0.9, [], "fixed")
    candidates = select_candidates(request, settings, {}, catalog=CATALOG, health=health)
    return candidates, request


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_selection(case: Case) -> None:
    candidates, request = _select(case)
    ranked = [f"{c.provider.name}:{c.model.id}" for c in candidates]
    if case.expected is not None:
        assert ranked == case.expected
    if case.check is not None:
        case.check(candidates, request)
    assert all(c.reason for c in candidates)


def test_enough_cases() -> None:
    assert len(CASES) >= 20


def test_cached_selection_replays_hints_and_not_free_attempts() -> None:
    case = Case("paid only", [], router={"providers": ["gamma"]})
    settings = load_settings(_config(providers=["gamma"]))
    health = HealthStore(None)
    for _ in range(3):
        request = RouteRequest(messages=[HumanMessage("hi")])
        assert select_candidates(request, settings, {}, catalog=CATALOG, health=health) == []
        assert [a.status for a in request.attempts] == ["not_free"]
        assert request.hints
    del case


def test_repeated_selection_is_stable_and_a_new_list() -> None:
    settings = load_settings(_config())
    health = HealthStore(None)
    first = select_candidates(
        RouteRequest(messages=[HumanMessage("hi")]), settings, {}, catalog=CATALOG, health=health
    )
    second = select_candidates(
        RouteRequest(messages=[HumanMessage("hi")]), settings, {}, catalog=CATALOG, health=health
    )
    assert first == second and first is not second
    second.clear()  # a caller may change its list without touching the cache
    assert select_candidates(
        RouteRequest(messages=[HumanMessage("hi")]), settings, {}, catalog=CATALOG, health=health
    )


def test_a_bench_that_starts_changes_the_reason_at_once() -> None:
    settings = load_settings(_config())
    health = HealthStore(None)
    request = RouteRequest(messages=[HumanMessage("hi")])
    before = select_candidates(request, settings, {}, catalog=CATALOG, health=health)
    assert "healthy" in before[0].reason
    health.record_failure("alpha", "generalist", reason="rate_limited", bench_for=60)
    after = select_candidates(request, settings, {}, catalog=CATALOG, health=health)
    assert "benched" in after[0].reason


def test_local_server_models_get_catalog_facts() -> None:
    from openmux.catalog import bundled

    data = bundled()
    catalog = Catalog(data.models, data.offers)
    settings = load_settings({"router": {"providers": ["ollama"]}})
    request = RouteRequest(messages=[HumanMessage(IMAGE)], task="image")
    request.classification = TaskClassification(TaskType.IMAGE, 1.0, [], "fixed")
    found = {"ollama": ["llama3.1:8b", "gemma3:27b", "nomic-embed-text", "my-finetune"]}
    candidates = select_candidates(
        request, settings, found, catalog=catalog, health=HealthStore(None)
    )
    assert [c.model.id for c in candidates] == ["gemma3:27b"]  # the only vision model
    assert candidates[0].model.context_length == 131_072
    plain = RouteRequest(messages=[HumanMessage("hi")])
    plain.classification = TaskClassification(TaskType.CHAT, 1.0, [], "fixed")
    ranked = select_candidates(plain, settings, found, catalog=catalog, health=HealthStore(None))
    ids = [c.model.id for c in ranked]
    assert sorted(ids) == ["gemma3:27b", "llama3.1:8b", "my-finetune"]  # no embedding model
    assert ids.index("gemma3:27b") < ids.index("llama3.1:8b")  # MMLU-Pro 67.5 > 48.3
    assert "neutral" in ranked[ids.index("my-finetune")].reason


def test_bundled_openrouter_selection_is_free_and_quality_ranked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from openmux.catalog import bundled

    data = bundled()
    catalog = Catalog(data.models, data.offers)
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test-key-000")
    settings = load_settings({"router": {"providers": ["openrouter"]}})
    request = RouteRequest(messages=[HumanMessage("write a sort")], call_kwargs=TOOLS)
    request.classification = TaskClassification(TaskType.CODE, 1.0, [], "fixed")
    candidates = select_candidates(request, settings, {}, catalog=catalog, health=HealthStore(None))
    assert candidates and all(c.model.id.endswith(":free") for c in candidates)
    assert all(c.model.tools for c in candidates)
    assert "Aider polyglot" in candidates[0].reason
    scores = [catalog.model(c.model.id) for c in candidates[:3]]
    values = [s.scores["code"].value for s in scores if s is not None]
    assert values == sorted(values, reverse=True)
