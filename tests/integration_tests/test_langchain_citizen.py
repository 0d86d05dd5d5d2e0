"""ChatOpenMux and OpenMuxEmbeddings behave as LangChain models should.

The LLM cache keys an answer by everything that changes it; token usage is counted
once; a caller's mistake raises at once and benches nothing; instances pickle, copy
and round-trip through `langchain_core.load`; every `[router]` and `[timeouts]` setting
is a constructor argument, and a misspelt one raises naming the right one.
"""

from __future__ import annotations

import asyncio
import copy
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.caches import BaseCache, InMemoryCache
from langchain_core.callbacks import get_usage_metadata_callback
from langchain_core.globals import set_llm_cache
from langchain_core.load import dumps, loads
from langchain_core.messages import AIMessage
from langchain_core.messages.ai import add_usage
from langchain_core.tools import tool

from openmux import ChatOpenMux, OpenMuxEmbeddings, TaskClassification, TaskType
from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_config

PROVIDERS = {
    "alpha": dict(models=["a-1", "a-2"], reply="from alpha", embedding_models=["e-1"]),
    "beta": dict(models=["b-1"], reply="from beta", embedding_models=["e-1"]),
}


def _as_chat(_: Any) -> TaskClassification:
    return TaskClassification(TaskType.CHAT, 0.9, [], "fixed for the test")


def _config(server: FakeProviderServer, *names: str) -> dict[str, Any]:
    return provider_config(*(server.providers[name] for name in names or ("alpha", "beta")))


def _hits(server: FakeProviderServer) -> int:
    return sum(provider.hits for provider in server.providers.values())


# -- the LLM cache ----------------------------------------------------------------------


def _sqlite_cache(path: Path) -> BaseCache:
    cache_module = pytest.importorskip("langchain_community.cache")
    return cache_module.SQLiteCache(database_path=str(path / "llm-cache.db"))


def _entries(cache: BaseCache) -> int:
    if isinstance(cache, InMemoryCache):
        return len(cache._cache)
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    with Session(cache.engine) as session:  # type: ignore[attr-defined]
        return session.scalar(select(func.count()).select_from(cache.cache_schema))  # type: ignore[attr-defined]


@pytest.fixture(params=["memory", "sqlite"])
def llm_cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseCache]:
    cache = InMemoryCache() if request.param == "memory" else _sqlite_cache(tmp_path)
    set_llm_cache(cache)
    try:
        yield cache
    finally:
        set_llm_cache(None)


@tool
def lookup(city: str) -> str:
    """Look up a city."""
    return city


def _variants(server: FakeProviderServer) -> dict[str, Callable[[], Any]]:
    """Models that must not share the first one's cached answer to the same prompt."""
    config = _config(server)
    other_models = _config(server)
    other_models["providers"]["alpha"]["models"] = ["a-2"]
    return {
        "max_tokens": lambda: ChatOpenMux(config=config, classifier=_as_chat, max_tokens=2),
        "temperature": lambda: ChatOpenMux(config=config, classifier=_as_chat, temperature=1.5),
        "another provider": lambda: ChatOpenMux(
            config=_config(server, "beta"), classifier=_as_chat
        ),
        "other models": lambda: ChatOpenMux(config=other_models, classifier=_as_chat),
        "free_only off": lambda: ChatOpenMux(config=config, classifier=_as_chat, free_only=False),
        "fan-out": lambda: ChatOpenMux(config=config, classifier=_as_chat, fanout=2),
        "combiner": lambda: ChatOpenMux(
            config=config, classifier=_as_chat, fanout=2, combiner="concat"
        ),
        "bound tools": lambda: ChatOpenMux(config=config, classifier=_as_chat).bind_tools([lookup]),
        "response format": lambda: ChatOpenMux(config=config, classifier=_as_chat).bind(
            response_format={"type": "json_object"}
        ),
    }


def test_the_cache_key_covers_everything_that_changes_the_answer(
    server: FakeProviderServer, llm_cache: BaseCache
) -> None:
    first = ChatOpenMux(config=_config(server), classifier=_as_chat)
    assert first.invoke("hi").text == "from alpha"
    assert _entries(llm_cache) == 1
    sent = _hits(server)
    assert first.invoke("hi").text == "from alpha"
    assert (_hits(server), _entries(llm_cache)) == (sent, 1), "the same call is served cached"
    for entries, (name, variant) in enumerate(_variants(server).items(), start=2):
        variant().invoke("hi")
        assert _hits(server) > sent, f"{name}: got the first instance's cached answer"
        # One entry per distinct call: the inner provider model writes none of its own.
        assert _entries(llm_cache) == entries, name
        sent = _hits(server)


def test_the_cache_key_follows_settings_from_the_config_file(
    server: FakeProviderServer, llm_cache: BaseCache, clean_environment: Path
) -> None:
    ChatOpenMux(config=_config(server), classifier=_as_chat).invoke("hi")
    (clean_environment / "openmux.toml").write_text('[router]\nstrategy = "ordered"\n')
    sent = _hits(server)
    # The same constructor arguments, other effective settings.
    ChatOpenMux(config=_config(server), classifier=_as_chat).invoke("hi")
    assert _hits(server) == sent + 1
    assert _entries(llm_cache) == 2


def test_the_cache_key_holds_no_secret(server: FakeProviderServer) -> None:
    config = _config(server)
    config["providers"]["alpha"]["api_key_env"] = "ALPHA_KEY"
    llm = ChatOpenMux(config=config, api_keys={"alpha": "sk-secret-value"})
    assert "sk-secret-value" not in llm._get_llm_string()
    assert "sk-secret-value" not in str(llm._identifying_params)


# -- usage counted once -----------------------------------------------------------------


def _run(llm: ChatOpenMux, form: str) -> AIMessage:
    if form == "invoke":
        return llm.invoke("hi")
    if form == "ainvoke":
        return asyncio.run(llm.ainvoke("hi"))
    if form == "batch":
        return llm.batch(["hi"])[0]
    if form == "astream":

        async def collect() -> list[Any]:
            return [chunk async for chunk in llm.astream("hi")]

        chunks = asyncio.run(collect())
    else:
        chunks = list(llm.stream("hi"))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    return merged  # type: ignore[return-value]


@pytest.mark.parametrize("form", ["invoke", "ainvoke", "stream", "astream", "batch"])
def test_usage_is_counted_once(server: FakeProviderServer, form: str) -> None:
    llm = ChatOpenMux(config=_config(server), classifier=_as_chat)
    with get_usage_metadata_callback() as callback:
        message = _run(llm, form)
    assert message.usage_metadata is not None
    assert message.usage_metadata["total_tokens"] > 0
    total = None
    for usage in callback.usage_metadata.values():
        total = add_usage(total, usage)
    assert total is not None
    assert total["total_tokens"] == message.usage_metadata["total_tokens"]
    assert total["input_tokens"] == message.usage_metadata["input_tokens"]


# -- a caller's mistake -----------------------------------------------------------------


def test_an_unknown_call_argument_raises_at_once_and_benches_nothing(
    server: FakeProviderServer,
) -> None:
    llm = ChatOpenMux(config=_config(server), classifier=_as_chat)
    for _ in range(3):
        with pytest.raises(TypeError) as raised:
            llm.invoke("hi", provider_preference=["beta"])
        message = str(raised.value)
        assert "'provider_preference'" in message
        assert "temperature" in message and "tools" in message  # the accepted ones
        assert "\n" not in message
    assert _hits(server) == 0
    assert llm.router.health.bench_of("alpha", "a-1") is None
    answer = llm.invoke("hi")
    assert answer.text == "from alpha"
    assert [a["status"] for a in answer.response_metadata["openmux"]["attempts"]] == ["ok"]


async def test_an_unknown_call_argument_raises_at_once_async(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=_config(server), classifier=_as_chat)
    with pytest.raises(TypeError, match="provider_preference"):
        await llm.ainvoke("hi", provider_preference=["beta"])
    with pytest.raises(TypeError, match="provider_preference"):
        list(llm.stream("hi", provider_preference=["beta"]))
    assert _hits(server) == 0


def test_a_token_budget_below_one_raises_at_once_and_benches_nothing(
    server: FakeProviderServer,
) -> None:
    from openmux import ConfigError

    with pytest.raises(ConfigError, match="max_tokens"):
        ChatOpenMux(config=_config(server), max_tokens=0)
    llm = ChatOpenMux(config=_config(server), classifier=_as_chat)
    for call in (
        lambda: llm.invoke("hi", max_tokens=0),
        lambda: llm.bind(max_completion_tokens=-1).invoke("hi"),
        lambda: list(llm.stream("hi", max_tokens=0)),
        lambda: asyncio.run(llm.ainvoke("hi", max_tokens=0)),
    ):
        with pytest.raises(ConfigError, match=r"max_(completion_)?tokens") as raised:
            call()
        assert "\n" not in str(raised.value)
    assert _hits(server) == 0
    assert llm.router.health.bench_of("alpha", "a-1") is None


def test_a_sampling_value_that_is_no_finite_number_raises_at_once_and_benches_nothing(
    server: FakeProviderServer,
) -> None:
    """temperature=nan could not be encoded as JSON, and each provider asked was blamed
    for it: every candidate recorded a bad response, and the healthy ones were benched."""
    from openmux import ConfigError

    with pytest.raises(ConfigError, match="temperature"):
        ChatOpenMux(config=_config(server), temperature=float("nan"))
    llm = ChatOpenMux(config=_config(server), classifier=_as_chat)
    for name, value in (
        ("temperature", float("nan")),
        ("top_p", float("inf")),
        ("frequency_penalty", float("-inf")),
        ("presence_penalty", "high"),
    ):
        with pytest.raises(ConfigError, match=name) as raised:
            llm.invoke("hi", **{name: value})
        assert "\n" not in str(raised.value)
    assert _hits(server) == 0
    assert llm.router.health.bench_of("alpha", "a-1") is None


def test_text_that_is_no_unicode_raises_at_once_naming_where(server: FakeProviderServer) -> None:
    """A lone surrogate (what errors="surrogateescape" makes of bytes that are not UTF-8)
    raised UnicodeEncodeError from deep inside the classifier or the HTTP client, naming
    a position in a JSON body the caller never saw."""
    llm = ChatOpenMux(config=_config(server))
    for call in (
        lambda: llm.invoke("caf\udce9 au lait"),
        lambda: llm.invoke(
            [("system", "be brief"), ("user", [{"type": "text", "text": "\ud800"}])]
        ),
        lambda: list(llm.stream("caf\udce9")),
    ):
        with pytest.raises(ValueError, match="surrogate") as raised:
            call()
        assert "\n" not in str(raised.value)
        assert "errors='replace'" in str(raised.value)
    assert _hits(server) == 0


def test_a_misspelt_call_argument_names_the_right_one(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=_config(server), classifier=_as_chat)
    with pytest.raises(TypeError, match="did you mean `temperature`"):
        llm.invoke("hi", temprature=0)


def test_the_call_arguments_langchain_passes_still_work(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=_config(server), classifier=_as_chat)
    message = llm.invoke(
        "hi", stop=["zzz"], temperature=0, max_tokens=20, top_p=1, seed=1, tool_choice="auto"
    )
    assert message.text == "from alpha"
    bound = llm.bind_tools([lookup], tool_choice="lookup", parallel_tool_calls=False)
    assert bound.invoke("weather in Paris").response_metadata["openmux"]["provider"] == "alpha"
    structured = llm.with_structured_output({"title": "city", "type": "object", "properties": {}})
    structured.invoke("Paris")  # ls_structured_output_format reaches _generate
    assert _hits(server) == 3


# -- copies -----------------------------------------------------------------------------


def test_chat_model_pickles_and_copies(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=_config(server), classifier=None, temperature=0.2)
    llm.invoke("hi")  # build the router, pools and graph first
    for twin in (
        pickle.loads(pickle.dumps(llm)),
        copy.deepcopy(llm),
        copy.copy(llm),
        llm.model_copy(),
        llm.model_copy(deep=True),
    ):
        assert twin.temperature == 0.2
        assert twin.invoke("hi").text == "from alpha"
    assert llm.invoke("hi").text == "from alpha"


def test_model_copy_with_update_rebuilds_from_the_new_fields(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=_config(server, "alpha"))
    assert llm.invoke("hi").text == "from alpha"
    moved = llm.model_copy(update={"config": _config(server, "beta")})
    assert moved.settings.allowed == ("beta",)
    assert moved.invoke("hi").text == "from beta"
    narrowed = llm.model_copy(update={"providers": ["beta"], "config": _config(server)})
    assert narrowed.invoke("hi").text == "from beta"
    assert llm.invoke("hi").text == "from alpha", "the original keeps its own settings"


def test_chat_model_round_trips_through_langchain_load(server: FakeProviderServer) -> None:
    llm = ChatOpenMux(config=_config(server), temperature=0.3, hedge_after_ms=300, fanout=0)
    text = dumps(llm)
    loaded = loads(text, valid_namespaces=["openmux"], allowed_objects=[ChatOpenMux])
    assert isinstance(loaded, ChatOpenMux)
    assert loaded.model_dump() == llm.model_dump()
    assert loaded.invoke("hi").text == "from alpha"


def test_serialized_chat_model_holds_no_key(server: FakeProviderServer) -> None:
    config = _config(server)
    config["providers"]["alpha"]["api_key_env"] = "ALPHA_KEY"
    llm = ChatOpenMux(config=config, api_keys={"alpha": "sk-secret-value"})
    assert "sk-secret-value" not in dumps(llm)


def test_embeddings_pickle_and_copy(server: FakeProviderServer) -> None:
    embeddings = OpenMuxEmbeddings(config=_config(server))
    vector = embeddings.embed_query("hi")
    for twin in (
        pickle.loads(pickle.dumps(embeddings)),
        copy.deepcopy(embeddings),
        copy.copy(embeddings),
        embeddings.model_copy(),
    ):
        assert twin.model_id == embeddings.model_id
        assert twin.embed_query("hi") == vector
    moved = embeddings.model_copy(update={"config": _config(server, "beta")})
    moved.embed_query("hi")
    assert server.providers["beta"].hits == 1
    assert moved.router.settings.allowed == ("beta",)


# -- constructor arguments -------------------------------------------------------------


def test_hedge_after_ms_is_a_constructor_argument(server: FakeProviderServer) -> None:
    # alpha answers after 3 s: the default hedge (5 s when unobserved) waits for it; a
    # hedge after 300 ms asks beta, which answers first.
    server.providers["alpha"].fault = Fault.slow_first_token(3)
    llm = ChatOpenMux(config=_config(server), classifier=_as_chat, hedge_after_ms=300)
    message = llm.invoke("hi")
    attempts = message.response_metadata["openmux"]["attempts"]
    assert message.text == "from beta"
    assert ("beta", "ok", True) in [(a["provider"], a["status"], a["hedged"]) for a in attempts]


def test_every_router_and_timeouts_setting_is_a_constructor_argument(
    server: FakeProviderServer,
) -> None:
    llm = ChatOpenMux(
        config=_config(server),
        providers=["beta", "alpha"],
        strategy="ordered",
        free_only=True,
        max_attempts=3,
        hedge_after_ms=False,
        hedge_tools=True,
        policy="latency",
        prefer=["beta"],
        exclude=["alpha:a-2"],
        timeout=30,
        connect_timeout=2,
        first_token_timeout=9,
    )
    settings = llm.settings
    assert settings.allowed == ("beta", "alpha")
    assert (settings.strategy, settings.free_only, settings.max_attempts) == ("ordered", True, 3)
    assert (settings.hedging, settings.hedge_tools, settings.policy) == (False, True, "latency")
    assert (settings.prefer, settings.exclude) == (("beta",), ("alpha:a-2",))
    assert (settings.timeouts.total, settings.timeouts.connect) == (30, 2)
    assert settings.timeouts.first_token == 9
    assert settings.sources["router.max_attempts"] == "constructor arguments"
    assert llm.invoke("hi").text == "from beta"


def test_constructor_arguments_win_over_the_config(server: FakeProviderServer) -> None:
    config = _config(server)
    config["router"]["max_attempts"] = 5
    assert ChatOpenMux(config=config, max_attempts=2).settings.max_attempts == 2
    assert ChatOpenMux(config=config, max_retries=0).settings.max_attempts == 1


def test_a_misspelt_constructor_argument_names_the_right_one() -> None:
    with pytest.raises(
        TypeError, match=r"unexpected keyword argument 'hedge_after'.*hedge_after_ms"
    ):
        ChatOpenMux(hedge_after=300)
    with pytest.raises(TypeError, match="first_token_timeout"):
        ChatOpenMux(first_token_timout=3)
    with pytest.raises(TypeError, match="free_only"):
        OpenMuxEmbeddings(free_onyl=False)


def test_a_bad_setting_value_is_one_clear_line() -> None:
    from openmux import ConfigError

    with pytest.raises(ConfigError) as raised:
        ChatOpenMux(max_attempts=0)
    assert "max_attempts" in str(raised.value)


def test_embeddings_take_the_settings_that_apply(server: FakeProviderServer) -> None:
    embeddings = OpenMuxEmbeddings(
        config=_config(server),
        providers=["beta"],
        exclude=["alpha"],
        free_only=True,
        policy="latency",
        timeout=7,
        connect_timeout=1,
    )
    settings = embeddings.settings
    assert (settings.exclude, settings.policy, settings.timeouts.total) == (
        ("alpha",),
        "latency",
        7,
    )
    assert settings.timeouts.connect == 1
    embeddings.embed_query("hi")
    assert server.providers["beta"].hits == 1
