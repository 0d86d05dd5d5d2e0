"""The router graph: classify → select (a branch per kind of output) → failover.

    RunnableLambda(classify)
      | RunnableBranch(
            (output no provider makes → UnsupportedTask),
            RunnableLambda(route) → candidate.with_fallbacks([...next candidates, give_up]),
        )

`route` returns a Runnable, which RunnableLambda then runs with the same
input (invoke, stream and their async forms alike), so streaming flows through.
The nodes are the subclasses of `_quiet`, which behave as these LangChain
classes do and skip run bookkeeping when nobody observes the run.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

from openmux.errors import UnsupportedTask
from openmux.providers import ProviderFailure
from openmux.routing._candidate import CandidateRunnable
from openmux.routing._hedge import HedgedFailover
from openmux.routing._quiet import Branch, Pipeline, Step
from openmux.routing._request import Candidate, RouteRequest, request_exhausted

if TYPE_CHECKING:
    from collections.abc import Iterable

    from openmux.config import ProviderSettings
    from openmux.providers import LocalDiscovery
    from openmux.routing import Router

# Tasks whose answer is not text: only a provider that produces that output may serve them.
_NON_TEXT_OUTPUT = {
    "tts": "spoken audio (text-to-speech)",
    "audio": "audio work (speech-to-text, music or sound generation)",
    "image": "images (generation or editing)",
    "other": "video, 3D or another output that no text, image, audio or vector model makes",
}


# Below this confidence a non-text label is more likely a misreading than a request
# for a picture or a sound, and a text answer serves the user better than an error.
NON_TEXT_MIN_CONFIDENCE = 0.5


def needs_other_output(request: RouteRequest) -> bool:
    classification = request.classification
    if classification is None or classification.confidence < NON_TEXT_MIN_CONFIDENCE:
        return False
    if request.needs_tools:
        return False  # an agent's tools may make the image or sound; the model calls them
    task = str(classification.task)
    if task == "image" and request.has_image_input:
        return False  # image understanding: vision-capable chat models serve it
    return task in _NON_TEXT_OUTPUT


def raise_unsupported(request: RouteRequest) -> BaseMessage:
    task = str(request.classification.task) if request.classification else "other"
    what = _NON_TEXT_OUTPUT[task]
    raise UnsupportedTask(
        task,
        f"this request was classified as {task!r}: it asks for {what}, and no configured "
        "provider produces that output, so OpenMux will not answer it with text. "
        "Attach the input (an image for a vision model) or pass task='chat' to get a text "
        "answer on purpose.",
    )


# Failures worth one more round over the candidates after a short pause.
_TRANSIENT = frozenset({"http_5xx", "connection", "timeout", "bad_response", "rate_limited"})
_MAX_ROUNDS = 3


class _GiveUp(Runnable[RouteRequest, BaseMessage]):
    """The last fallback. Benching never starves a request: when the soonest benched
    candidate returns (or a transient failure may pass) within the request's deadline,
    wait for it and run the candidates again; otherwise explain every attempt."""

    name = "no_provider_available"

    def __init__(self) -> None:
        self.chain: Runnable[RouteRequest, BaseMessage] | None = None

    def _pause(self, request: RouteRequest) -> float | None:
        this_round = request.attempts[request.round_start :]
        if request.out_of_budget or request.rounds + 1 >= _MAX_ROUNDS or not this_round:
            return None
        if request.benched:
            pause = min(b.until for b in request.benched) - time.time() + 0.01
        elif any(a["status"] in _TRANSIENT for a in this_round):
            pause = random.uniform(0.1, 0.3)
        else:
            return None
        return max(0.0, pause) if pause < request.seconds_left else None

    def _next_round(self, request: RouteRequest) -> Runnable[RouteRequest, BaseMessage]:
        pause = self._pause(request)
        if pause is None or self.chain is None:
            raise request_exhausted(request)
        request.rounds += 1
        request.round_start = len(request.attempts)
        request.benched = []
        request.pause = pause
        return self.chain

    def invoke(self, input: RouteRequest, config: Any = None, **kwargs: Any) -> BaseMessage:
        chain = self._next_round(input)
        time.sleep(input.pause)
        return chain.invoke(input, config)

    async def ainvoke(self, input: RouteRequest, config: Any = None, **kwargs: Any) -> BaseMessage:
        chain = self._next_round(input)
        await asyncio.sleep(input.pause)
        return await chain.ainvoke(input, config)

    def stream(
        self, input: RouteRequest, config: Any = None, **kwargs: Any
    ) -> Iterator[BaseMessage]:
        chain = self._next_round(input)
        time.sleep(input.pause)
        yield from chain.stream(input, config)

    async def astream(
        self, input: RouteRequest, config: Any = None, **kwargs: Any
    ) -> AsyncIterator[BaseMessage]:
        chain = self._next_round(input)
        await asyncio.sleep(input.pause)
        async for chunk in chain.astream(input, config):
            yield chunk


class FailoverCache:
    """with_fallbacks chains by candidate list, so a repeated request builds nothing."""

    def __init__(self, size: int = 256) -> None:
        self._chains: OrderedDict[tuple[Any, ...], Runnable[RouteRequest, BaseMessage]] = (
            OrderedDict()
        )
        self._runnables: dict[tuple[str, str], CandidateRunnable] = {}
        self._size = size
        self._lock = threading.Lock()

    def chain(
        self, router: Router, candidates: list[Candidate]
    ) -> Runnable[RouteRequest, BaseMessage]:
        key = tuple((c.key, c.reason) for c in candidates)
        with self._lock:
            chain = self._chains.get(key)
            if chain is not None:
                self._chains.move_to_end(key)
                return chain
        steps: list[Runnable[RouteRequest, BaseMessage]] = [
            self._runnable(router, candidate) for candidate in candidates
        ]
        give_up = _GiveUp()
        steps.append(give_up)
        chain = (
            HedgedFailover(
                runnable=steps[0],
                fallbacks=steps[1:],
                exceptions_to_handle=(ProviderFailure,),
                router=router,
            )
            if len(steps) > 1
            else steps[0]
        )
        give_up.chain = chain if candidates else None
        with self._lock:
            self._chains[key] = chain
            if len(self._chains) > self._size:
                self._chains.popitem(last=False)
        return chain

    def _runnable(self, router: Router, candidate: Candidate) -> CandidateRunnable:
        runnable = self._runnables.get(candidate.key)
        if runnable is None or runnable.candidate != candidate:
            runnable = CandidateRunnable(candidate, router)
            self._runnables[candidate.key] = runnable
        return runnable


def local_models(router: Router) -> dict[str, list[str] | None]:
    return models_on_this_machine(router.settings.provider_order(), router.discovery)


def models_on_this_machine(
    providers: Iterable[ProviderSettings], discovery: LocalDiscovery
) -> dict[str, list[str] | None]:
    """Models of the local servers (probed, cached) and of the in-process provider."""
    order = [p for p in providers if p.local and not p.models_configured]
    found = discovery.models(p for p in order if p.protocol != "llamacpp")
    if any(p.protocol == "llamacpp" for p in order):
        from openmux.local._pulled import in_process_models

        models = in_process_models()
        for provider in order:
            if provider.protocol == "llamacpp":
                found[provider.name] = models
    return found


def build_graph(router: Router) -> Runnable[RouteRequest, BaseMessage]:
    failovers = FailoverCache()

    def route(request: RouteRequest) -> Runnable[RouteRequest, BaseMessage]:
        return failovers.chain(router, router.select(request).candidates)

    # RunnableBranch takes its branches positionally, which mypy's pydantic view misses.
    select = Branch(  # type: ignore[call-arg]
        (Step(needs_other_output), Step(raise_unsupported, name="unsupported_task")),  # type: ignore[arg-type]
        Step(route, name="select"),  # type: ignore[arg-type]
    )
    return Pipeline(first=classify_step(router), last=select)


def classify_step(router: Router) -> Step:
    """The first node: label the request (asking a second tier, if any, without blocking
    an event loop)."""

    def classify_request(request: RouteRequest) -> RouteRequest:
        router.classify(request)
        return request

    async def aclassify_request(request: RouteRequest) -> RouteRequest:
        await router.aclassify(request)
        return request

    return Step(classify_request, afunc=aclassify_request, name="classify")
