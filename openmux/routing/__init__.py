"""Routing: each request goes classify → select → call with failover → [combine].

Every stage is a plain function in a module of its own, taking the `Router`
(what outlives a request) and the `RouteRequest` (what one request learns):

    _classify   classify, needs_other_output, raise_unsupported
    _select     select: the one selection every surface uses (_plan, _rank inside)
    _call       call one candidate (chat invoke/stream, embeddings)
    _react      what a failure means for health and for the request
    _failover   try candidates until one answers; rounds; `_hedge` races slow ones
    _fanout     fan-out requests and their members (`_members` runs them)
    _combine    the combiner stage and its own model calls

`_graph` and `_fanout_graph` run the stages in sequence for runs nobody observes,
and compose them from stock LangChain Runnables (`_traced`) for traced runs.
"""

from openmux.routing._answers import CallIndexes
from openmux.routing._classify import NON_TEXT_OUTPUT
from openmux.routing._context import Router
from openmux.routing._embed import aembed_candidate, embed_candidate
from openmux.routing._fanout import FanoutRequest, check_fanout_options, fanout_request
from openmux.routing._fanout_graph import (
    afanout_answer,
    astream_fanout_answer,
    fanout_answer,
    fanout_graph,
    stream_fanout_answer,
)
from openmux.routing._graph import (
    aanswer,
    answer,
    astream_answer,
    build_graph,
    plan,
    stream_answer,
)
from openmux.routing._output_candidates import configured_embedding_model, transcription_limit
from openmux.routing._pins import split_model_name
from openmux.routing._rank import score_task
from openmux.routing._react import react
from openmux.routing._request import Attempt, Candidate, RouteRequest, request_exhausted
from openmux.routing._select import select, select_candidates, text_tokens

__all__ = [
    "NON_TEXT_OUTPUT",
    "Attempt",
    "CallIndexes",
    "Candidate",
    "FanoutRequest",
    "RouteRequest",
    "Router",
    "aanswer",
    "aembed_candidate",
    "afanout_answer",
    "answer",
    "astream_answer",
    "astream_fanout_answer",
    "build_graph",
    "check_fanout_options",
    "configured_embedding_model",
    "embed_candidate",
    "fanout_answer",
    "fanout_graph",
    "fanout_request",
    "plan",
    "react",
    "request_exhausted",
    "score_task",
    "select",
    "select_candidates",
    "split_model_name",
    "stream_answer",
    "stream_fanout_answer",
    "text_tokens",
    "transcription_limit",
]
