"""The real openai client (sync and async) against `openmux serve` over fake providers."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from pydantic import BaseModel

from openmux.testing import FakeProviderServer, Fault
from tests.helpers import provider_config
from tests.integration_tests.server.conftest import (
    ALPHA_REPLY,
    FAKE_PROVIDERS,
    SERVER_KEY,
    StartServer,
    fake_config,
)

PROVIDERS = FAKE_PROVIDERS

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def client(base_url: str, **options: Any) -> OpenAI:
    return OpenAI(base_url=base_url, api_key=options.pop("api_key", "unused"), **options)


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_chat_answer_route_headers_and_usage(base_url: str) -> None:
    raw = client(base_url).chat.completions.with_raw_response.create(
        model="openmux/auto", messages=ask("Explain recursion in one sentence")
    )
    answer = raw.parse()
    assert answer.choices[0].message.content == ALPHA_REPLY
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == "alpha:shared"
    assert answer.usage is not None and answer.usage.total_tokens > 0
    headers = raw.headers
    assert (headers["x-openmux-provider"], headers["x-openmux-model"]) == ("alpha", "shared")
    assert headers["x-openmux-task"] == "chat"
    assert headers["x-openmux-attempts"] == "1"
    assert float(headers["x-openmux-overhead-ms"]) >= 0


def test_model_names_pin_and_force_the_task(base_url: str, server: FakeProviderServer) -> None:
    api = client(base_url)
    pinned = api.chat.completions.with_raw_response.create(model="beta:shared", messages=ask("hi"))
    assert pinned.headers["x-openmux-provider"] == "beta"
    assert api.chat.completions.create(model="beta-only", messages=ask("hi")).model == (
        "beta:beta-only"
    )
    forced = api.chat.completions.with_raw_response.create(
        model="openmux/code", messages=ask("hello there")
    )
    assert forced.headers["x-openmux-task"] == "code"


def test_sampling_options_reach_the_provider(base_url: str, server: FakeProviderServer) -> None:
    client(base_url).chat.completions.create(
        model="alpha:shared",
        messages=ask("hi"),
        temperature=0.2,
        top_p=0.5,
        seed=7,
        stop=["\n\n"],
        max_completion_tokens=50,
    )
    sent = server.providers["alpha"].requests[-1].json
    assert (sent["temperature"], sent["top_p"], sent["seed"]) == (0.2, 0.5, 7)
    assert sent["stop"] == ["\n\n"]
    assert sent["max_tokens"] == 50


def test_stop_and_max_tokens_shape_the_answer(base_url: str) -> None:
    api = client(base_url)
    stopped = api.chat.completions.create(model="alpha:shared", messages=ask("hi"), stop=",")
    assert stopped.choices[0].message.content == "Hello from alpha"
    short = api.chat.completions.create(model="alpha:shared", messages=ask("hi"), max_tokens=2)
    assert short.choices[0].finish_reason == "length"


def test_streaming_with_usage_and_route(base_url: str) -> None:
    stream = client(base_url).chat.completions.create(
        model="openmux/auto",
        messages=ask("Explain recursion"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ALPHA_REPLY
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 2
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.completion_tokens > 0
    route = last.model_extra["openmux"]
    assert (route["provider"], route["model"], route["task"]) == ("alpha", "shared", "chat")


def test_tools_and_tool_choice(base_url: str, server: FakeProviderServer) -> None:
    api = client(base_url)
    answer = api.chat.completions.create(
        model="openmux/auto",
        messages=ask("What is the weather in Paris?"),
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert server.providers["alpha"].requests[-1].json["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_weather"},
    }
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert "city" in json.loads(call.function.arguments)
    # The tool's result goes back in the next turn, as an OpenAI agent loop does.
    follow_up = api.chat.completions.create(
        model="openmux/auto",
        messages=[
            *ask("What is the weather in Paris?"),
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "18 C and sunny"},
        ],
        tools=[WEATHER_TOOL],
    )
    assert "18 C and sunny" in follow_up.choices[0].message.content


def test_streamed_tool_call(base_url: str) -> None:
    stream = client(base_url).chat.completions.create(
        model="openmux/auto",
        messages=ask("What is the weather in Paris?"),
        tools=[WEATHER_TOOL],
        tool_choice="required",
        stream=True,
    )
    chunks = [c for c in stream if c.choices]
    calls = [tc for c in chunks for tc in c.choices[0].delta.tool_calls or ()]
    assert calls[0].function.name == "get_weather" and calls[0].id
    arguments = "".join(tc.function.arguments or "" for tc in calls)
    assert "city" in json.loads(arguments)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
def test_tool_choice_holds_at_a_provider_that_takes_none(
    start_server: StartServer, server: FakeProviderServer, stream: bool
) -> None:
    # Ollama's API has no tool_choice: what it allows is what it is offered.
    alpha, beta = server.providers["alpha"], server.providers["beta"]
    api = client(start_server(provider_config(alpha, beta, protocol="ollama")), max_retries=0)
    time_tool = {"type": "function", "function": {"name": "get_time", "parameters": {}}}

    def calls(choice: Any) -> list[str]:
        answer = api.chat.completions.create(
            model="alpha:shared",
            messages=ask("What is the weather in Paris?"),
            tools=[WEATHER_TOOL, time_tool],
            tool_choice=choice,
            stream=stream,
        )
        if not stream:
            return [c.function.name for c in answer.choices[0].message.tool_calls or ()]
        deltas = [c.choices[0].delta for c in answer if c.choices]
        return [t.function.name for d in deltas for t in d.tool_calls or () if t.function.name]

    assert calls("none") == []
    assert not alpha.requests[-1].json.get("tools")
    assert calls({"type": "function", "function": {"name": "get_time"}}) == ["get_time"]
    assert calls("auto") == ["get_weather"]


def test_streamed_tool_calls_without_indexes_stay_apart() -> None:
    # langchain-ollama (and every chat model that builds chunks from whole tool calls)
    # streams calls with no index; OpenAI clients merge the deltas of one index.
    from langchain_core.messages import AIMessageChunk
    from openai.lib.streaming.chat import ChatCompletionStreamState
    from openai.types.chat import ChatCompletionChunk

    from openmux.server._wire import ChunkWriter

    def whole(name: str, args: dict[str, str], call_id: str) -> dict[str, Any]:
        return {"name": name, "args": args, "id": call_id}

    writer = ChunkWriter("openmux/auto", "chatcmpl-1", include_usage=False)
    both = [whole("get_weather", {"city": "Paris"}, "a"), whole("get_time", {"zone": "CET"}, "b")]
    events = [
        writer.delta(AIMessageChunk(content="", tool_calls=both)),
        writer.delta(AIMessageChunk(content="", tool_calls=[whole("get_time", {}, "c")])),
        writer.end(None),
    ]
    state = ChatCompletionStreamState()
    for event in b"".join(e for e in events if e).split(b"\n\n"):
        data = event.removeprefix(b"data: ")
        if data and data != b"[DONE]":
            state.handle_chunk(ChatCompletionChunk.model_validate_json(data))
    calls = state.get_final_completion().choices[0].message.tool_calls or []
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("a", "get_weather", {"city": "Paris"}),
        ("b", "get_time", {"zone": "CET"}),
        ("c", "get_time", {}),
    ]


class Weather(BaseModel):
    city: str
    celsius: int


def test_structured_output_json_schema(base_url: str) -> None:
    parsed = client(base_url).chat.completions.parse(
        model="openmux/auto", messages=ask("Weather in Paris as JSON"), response_format=Weather
    )
    weather = parsed.choices[0].message.parsed
    assert isinstance(weather, Weather)


def test_json_object_mode(base_url: str) -> None:
    answer = client(base_url).chat.completions.create(
        model="openmux/auto",
        messages=ask("Reply in JSON with the keys 'name' and 'age'"),
        response_format={"type": "json_object"},
    )
    assert set(json.loads(answer.choices[0].message.content)) >= {"name", "age"}


def test_embeddings_float_and_base64(base_url: str) -> None:
    api = client(base_url)
    answer = api.embeddings.create(model="openmux/auto", input=["first text", "second text"])
    assert [d.index for d in answer.data] == [0, 1]
    assert len(answer.data[0].embedding) == 16
    assert answer.model == "embed-1"
    floats = api.embeddings.create(
        model="alpha:embed-1", input="first text", encoding_format="float"
    )
    assert floats.data[0].embedding == pytest.approx(answer.data[0].embedding, rel=1e-6)


def test_embeddings_refuse_token_ids_and_empty_texts_with_the_fix(
    base_url: str, server: FakeProviderServer
) -> None:
    # LangChain's OpenAIEmbeddings sends token ids unless told not to: the error says how.
    api = client(base_url, max_retries=0)
    hits = {name: provider.hits for name, provider in server.providers.items()}
    for token_ids in ([[9906, 1917], [15339]], [9906, 1917]):
        with pytest.raises(openai.BadRequestError, match="check_embedding_ctx_length=False"):
            api.embeddings.create(model="openmux/auto", input=token_ids)
    with pytest.raises(openai.BadRequestError, match="non-empty strings") as empty:
        api.embeddings.create(model="openmux/auto", input=["a text", ""])
    assert empty.value.param == "input"
    assert {name: provider.hits for name, provider in server.providers.items()} == hits


def test_embeddings_of_another_size_than_asked_are_refused(
    base_url: str, server: FakeProviderServer
) -> None:
    """`dimensions` was ignored: 16-dimensional vectors came back for dimensions=4, to
    break the index they went into (or to fill it with vectors of two sizes)."""
    api = client(base_url, max_retries=0)
    assert (
        len(api.embeddings.create(model="openmux/auto", input="a", dimensions=16).data[0].embedding)
        == 16
    )
    hits = sum(provider.hits for provider in server.providers.values())
    for asked in (4, 0, "4"):
        with pytest.raises(openai.BadRequestError) as refused:
            api.embeddings.create(model="openmux/auto", input="a", dimensions=asked)  # type: ignore[arg-type]
        assert refused.value.param == "dimensions"
    # The size this model makes is known by now: nothing more was asked of a provider.
    assert sum(provider.hits for provider in server.providers.values()) == hits
    with pytest.raises(openai.BadRequestError, match="vectors of 16 dimensions"):
        api.embeddings.create(model="alpha:embed-1", input="a", dimensions=8)


def test_models_list_and_retrieve(base_url: str) -> None:
    api = client(base_url)
    ids = [model.id for model in api.models.list()]
    assert ids[0] == "openmux/auto"
    assert {"openmux/fanout", "openmux/chat", "openmux/code"} <= set(ids)
    assert {"alpha:shared", "alpha:alpha-only", "beta:beta-only", "alpha:embed-1"} <= set(ids)
    assert api.models.retrieve("beta:shared").owned_by == "beta"
    with pytest.raises(openai.NotFoundError):
        api.models.retrieve("nobody:nothing")


def test_fanout_model(base_url: str, server: FakeProviderServer) -> None:
    api = client(base_url)
    raw = api.chat.completions.with_raw_response.create(
        model="openmux/fanout",
        messages=ask("Name a prime number"),
        extra_body={"openmux": {"combiner": "concat"}},
    )
    assert raw.parse().choices[0].message.content.count("Hello from") == 2
    assert raw.headers["x-openmux-fanout"] == "2/2"
    with api.chat.completions.with_streaming_response.create(
        model="openmux/fanout",
        messages=ask("Name a prime number"),
        stream=True,
        extra_body={"openmux": {"combiner": "concat"}},
    ) as streamed:
        assert streamed.headers["x-openmux-fanout"] == "2/2"
        chunks = list(streamed.parse())
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).count("Hello from")
        == 2
    )
    answer = api.chat.completions.create(
        model="openmux/auto",
        messages=ask("Name a prime number"),
        extra_body={"openmux": {"fanout": ["alpha:shared", "beta:shared"], "combiner": "concat"}},
    )
    content = answer.choices[0].message.content
    assert "[alpha:shared]" in content and "[beta:shared]" in content


@pytest.mark.parametrize("combiner", ["concat", "summarize"])
def test_a_fanout_that_cannot_keep_a_json_answer_is_refused(
    base_url: str, server: FakeProviderServer, combiner: str
) -> None:
    # concat labels and joins the answers, summarize rewrites them in prose: neither
    # answer is the JSON the request asked for.
    with pytest.raises(openai.BadRequestError) as refused:
        client(base_url, max_retries=0).chat.completions.create(
            model="openmux/fanout",
            messages=ask("Reply in JSON with the key 'name'"),
            response_format={"type": "json_object"},
            extra_body={"openmux": {"combiner": combiner}},
        )
    assert "structured output" in refused.value.message and "vote" in refused.value.message
    assert server.providers["alpha"].hits == server.providers["beta"].hits == 0
    answer = client(base_url).chat.completions.create(
        model="openmux/fanout",
        messages=ask("Reply in JSON with the key 'name'"),
        response_format={"type": "json_object"},
        extra_body={"openmux": {"combiner": "vote"}},
    )
    assert set(json.loads(answer.choices[0].message.content)) == {"name"}


def test_openmux_options_rightly_typed_pass(base_url: str) -> None:
    answer = client(base_url, max_retries=0).chat.completions.create(
        model="openmux/auto",
        messages=ask("hi"),
        extra_body={"openmux": {"fanout": 2, "min_answers": 1, "member_timeout": 5}},
    )
    assert answer.choices[0].message.content


@pytest.mark.parametrize("calls", ["get_weather", ["get_weather"], {"id": "call_1"}, 5])
def test_tool_calls_not_a_list_of_objects_are_400(base_url: str, calls: Any) -> None:
    messages = [{"role": "assistant", "content": None, "tool_calls": calls}, *ask("hi")]
    with pytest.raises(openai.BadRequestError) as refused:
        client(base_url, max_retries=0).chat.completions.create(
            model="openmux/auto", messages=messages
        )
    assert refused.value.param == "messages[0].tool_calls"
    assert "list" in refused.value.message and "\n" not in refused.value.message


def test_error_types(start_server: StartServer, server: FakeProviderServer) -> None:
    api = client(start_server(max_request_bytes=2000), max_retries=0)
    with pytest.raises(openai.NotFoundError) as missing:
        api.chat.completions.create(model="openmux/nonsense", messages=ask("hi"))
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError, match="messages"):
        api.chat.completions.create(model="openmux/auto", messages=[])
    with pytest.raises(openai.BadRequestError) as unreadable:
        bad_content: Any = [{"role": "user", "content": 5}]
        api.chat.completions.create(model="openmux/auto", messages=bad_content)
    # One line naming the message and its field, not pydantic's report of several lines.
    assert "\n" not in unreadable.value.message
    assert unreadable.value.message.endswith(
        "messages[0] could not be read: content.str: Input should be a valid string (and 1 more)"
    )
    with pytest.raises(openai.BadRequestError, match="temperature"):
        api.chat.completions.create(
            model="openmux/auto", messages=ask("hi"), extra_body={"temperature": "hot"}
        )
    with pytest.raises(openai.APIStatusError) as too_large:
        api.chat.completions.create(model="openmux/auto", messages=ask("x" * 5000))
    assert too_large.value.status_code == 413
    with pytest.raises(openai.BadRequestError, match="image"):
        api.chat.completions.create(model="openmux/image", messages=ask("Draw a cat"))

    server.providers["alpha"].fault = Fault.status(500)
    server.providers["beta"].fault = Fault.status(401)
    with pytest.raises(openai.InternalServerError) as unavailable:
        api.chat.completions.create(model="openmux/auto", messages=ask("hi"))
    assert unavailable.value.status_code == 503
    assert "alpha:shared: http_5xx" in unavailable.value.message


NAMED_TOOL = {"type": "function", "function": {"name": "get_weather"}}
REFUSED: list[tuple[str, dict[str, Any]]] = [
    # (the param OpenAI names, the request's fields beyond model and messages)
    ("temperature", {"temperature": 2.5}),
    ("top_p", {"top_p": -0.1}),
    ("max_tokens", {"max_tokens": 0}),
    ("max_tokens", {"max_completion_tokens": -5}),
    ("stream", {"stream": "yes"}),
    ("stream_options", {"stream": True, "stream_options": "usage"}),
    ("stream_options.include_usage", {"stream": True, "stream_options": {"include_usage": 1}}),
    ("tools", {"tools": [{"type": "function", "function": {"name": "f", "parameters": "no"}}]}),
    ("tool_choice", {"tools": [WEATHER_TOOL], "tool_choice": "sometimes"}),
    ("tool_choice", {"tools": [WEATHER_TOOL], "tool_choice": 42}),
    (
        "tool_choice",
        {"tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {"name": "x"}}},
    ),
    ("parallel_tool_calls", {"tools": [WEATHER_TOOL], "parallel_tool_calls": "yes"}),
    (
        "response_format.json_schema",
        {"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}},
    ),
    (
        "response_format.json_schema",
        {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": "s"}}},
    ),
    # `openmux` options of a type no option takes
    ("openmux.provider", {"openmux": {"provider": {"name": "alpha"}}}),
    ("openmux.provider", {"openmux": {"provider": ["alpha"]}}),
    ("openmux.combiner", {"openmux": {"fanout": 2, "combiner": ["vote"]}}),
    ("openmux.judge", {"openmux": {"fanout": 2, "judge": {"model": "alpha:shared"}}}),
    ("openmux.min_answers", {"openmux": {"fanout": 2, "min_answers": "2"}}),
    ("openmux.min_answers", {"openmux": {"fanout": 2, "min_answers": 1.5}}),
    ("openmux.member_timeout", {"openmux": {"fanout": 2, "member_timeout": "5"}}),
    ("openmux.member_timeout", {"openmux": {"fanout": 2, "member_timeout": [5]}}),
]


def test_values_openai_refuses_are_refused_before_any_provider(
    base_url: str, server: FakeProviderServer
) -> None:
    """Each provider would refuse them in turn (a 400 each, and a 503 at the end)."""
    api = client(base_url, max_retries=0)
    hits = {name: provider.hits for name, provider in server.providers.items()}
    for param, fields in REFUSED:
        with pytest.raises(openai.BadRequestError) as refused:
            api.chat.completions.create(model="openmux/auto", messages=ask("hi"), extra_body=fields)
        assert refused.value.param == param, fields
        assert "\n" not in refused.value.message
    assert {name: provider.hits for name, provider in server.providers.items()} == hits
    # Their valid neighbours still pass.
    answer = api.chat.completions.create(
        model="openmux/auto",
        messages=ask("What is the weather in Paris?"),
        extra_body={"temperature": 2, "top_p": 0, "max_tokens": 1},
        tools=[WEATHER_TOOL],
        tool_choice=NAMED_TOOL,
        parallel_tool_calls=False,
    )
    assert answer.choices[0].message.tool_calls


def test_all_rate_limited_is_429_with_retry_after(
    start_server: StartServer, server: FakeProviderServer
) -> None:
    for provider in server.providers.values():
        provider.fault = Fault.status(429, retry_after=30)
    api = client(start_server(), max_retries=0)
    with pytest.raises(openai.RateLimitError) as limited:
        api.chat.completions.create(model="openmux/auto", messages=ask("hi"))
    assert int(limited.value.response.headers["retry-after"]) >= 1
    # Benched now: the next request is refused without calling anyone.
    hits = server.providers["alpha"].hits
    with pytest.raises(openai.RateLimitError):
        api.chat.completions.create(model="openmux/auto", messages=ask("hi"), stream=True)
    assert server.providers["alpha"].hits == hits


def test_total_timeout_is_504(start_server: StartServer, server: FakeProviderServer) -> None:
    for provider in server.providers.values():
        provider.fault = Fault.hang()
    base_url = start_server(fake_config(server, first_token=0.5, total=1.0))
    with pytest.raises(openai.APIStatusError) as late:
        client(base_url, max_retries=0).chat.completions.create(
            model="openmux/auto", messages=ask("hi")
        )
    assert late.value.status_code == 504


def test_unknown_path_is_an_openai_error(base_url: str) -> None:
    answer = httpx.post(base_url + "/completions", json={"model": "openmux/auto"})
    assert answer.status_code == 404
    assert answer.json()["error"]["message"].startswith("POST /v1/completions")


async def test_async_client_chat_stream_embeddings(base_url: str) -> None:
    api = AsyncOpenAI(base_url=base_url, api_key="unused")
    answer = await api.chat.completions.create(model="openmux/auto", messages=ask("hi"))
    assert answer.choices[0].message.content == ALPHA_REPLY
    stream = await api.chat.completions.create(
        model="openmux/auto", messages=ask("hi"), stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == ALPHA_REPLY
    vectors = await api.embeddings.create(model="openmux/auto", input="some text")
    assert len(vectors.data[0].embedding) == 16
    with pytest.raises(openai.NotFoundError):
        await api.embeddings.create(model="openmux/chat", input="some text")
    await api.close()


def test_auth(start_server: StartServer) -> None:
    base_url = start_server(keys=(SERVER_KEY.encode(),))
    with pytest.raises(openai.AuthenticationError):
        client(base_url, api_key="wrong-key-0123456789", max_retries=0).models.list()
    missing = httpx.get(base_url + "/models")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "invalid_api_key"
    answer = client(base_url, api_key=SERVER_KEY).chat.completions.create(
        model="openmux/auto", messages=ask("hi")
    )
    assert answer.choices[0].message.content == ALPHA_REPLY
    assert httpx.get(base_url.removesuffix("/v1") + "/health").json()["status"] == "ok"
    assert httpx.get(base_url.removesuffix("/v1") + "/metrics").status_code == 401


def test_metrics(base_url: str, server: FakeProviderServer) -> None:
    server.providers["alpha"].fault = Fault.status(500)
    client(base_url).chat.completions.create(model="openmux/auto", messages=ask("hi"))
    text = httpx.get(base_url.removesuffix("/v1") + "/metrics").text
    assert 'openmux_requests_total{code="200",endpoint="/v1/chat/completions"} 1.0' in text
    assert 'openmux_attempts_total{provider="alpha",status="http_5xx"}' in text
    assert 'openmux_attempts_total{provider="beta",status="ok"} 1.0' in text
    assert 'openmux_provider_latency_seconds_bucket{le="+Inf",provider="beta"} 1.0' in text


def test_streamed_structured_output(base_url: str) -> None:
    stream = client(base_url).chat.completions.create(
        model="openmux/auto",
        messages=ask("Weather in Paris as JSON"),
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "weather", "schema": Weather.model_json_schema()},
        },
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert Weather.model_validate_json(text)


def test_raw_bodies_get_openai_errors(start_server: StartServer) -> None:
    url = start_server(max_request_bytes=2000) + "/chat/completions"

    def chunked(size: int) -> Any:
        yield b'{"model": "openmux/auto", "messages": "'
        for _ in range(size // 500):
            yield b"x" * 500
        yield b'"}'

    # No Content-Length to go by: the limit holds as the body arrives.
    too_large = httpx.post(url, content=chunked(5000))
    assert too_large.status_code == 413
    assert too_large.json()["error"]["code"] == "request_too_large"
    not_json = httpx.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]["message"]
    assert httpx.post(url, content=chunked(500)).status_code == 400  # 'messages' not a list
    wrong_method = httpx.get(url)
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()
