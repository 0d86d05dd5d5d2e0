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

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

from openmux.errors import NoProviderAvailable, UnsupportedTask
from openmux.providers import ProviderFailure
from openmux.routing._candidate import CandidateRunnable
from openmux.routing._quiet import Branch, Failover, Pipeline, Step
from openmux.routing._request import Candidate, RouteRequest
from openmux.routing._select import select_candidates

if TYPE_CHECKING:
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


def _needs_other_output(request: RouteRequest) -> bool:
    classification = request.classification
    if classification is None or classification.confidence < NON_TEXT_MIN_CONFIDENCE:
        return False
    if request.needs_tools:
        return False  # an agent's tools may make the image or sound; the model calls them
    task = str(classification.task)
    if task == "image" and request.has_image_input:
        return False  # image understanding: vision-capable chat models serve it
    return task in _NON_TEXT_OUTPUT


def _raise_unsupported(request: RouteRequest) -> BaseMessage:
    task = str(request.classification.task) if request.classification else "other"
    what = _NON_TEXT_OUTPUT[task]
    raise UnsupportedTask(
        task,
        f"this request was classified as {task!r}: it asks for {what}, and no configured "
        "provider produces that output, so OpenMux will not answer it with text. "
        "Attach the input (an image for a vision model) or pass task='chat' to get a text "
        "answer on purpose.",
    )


class _GiveUp(Runnable[RouteRequest, BaseMessage]):
    """The last fallback: every candidate failed, so explain every attempt."""

    name = "no_provider_available"

    def invoke(self, input: RouteRequest, config: Any = None, **kwargs: Any) -> BaseMessage:
        raise _no_provider(input)


def _no_provider(request: RouteRequest) -> NoProviderAvailable:
    if request.attempts:
        message = "no provider could answer: every candidate failed"
    elif request.offline:
        message = "offline and no local model or server is available"
    else:
        message = "no provider is configured or reachable"
    hints = list(dict.fromkeys(request.hints))
    for attempt in request.attempts:
        if attempt["status"] == "auth":
            name = attempt["provider"]
            hints.append(f"{name}: the key was refused; check it (openmux init)")
    if not hints and not request.attempts:
        hints.append("set OPENROUTER_API_KEY (free key at https://openrouter.ai/keys)")
    return NoProviderAvailable(message, attempts=request.attempts, hints=hints)


class FailoverCache:
    """with_fallbacks chains by candidate list, so a repeated request builds nothing."""

    def __init__(self, size: int = 256) -> None:
        self._chains: OrderedDict[tuple[Any, ...], Runnable[RouteRequest, BaseMessage]] = (
            OrderedDict()
        )
        self._runnables: dict[tuple[str, str], CandidateRunnable] = {}
        self._size = size
        self._lock = threading.Lock()
        self._give_up = _GiveUp()

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
        steps.append(self._give_up)
        chain = (
            Failover(
                runnable=steps[0], fallbacks=steps[1:], exceptions_to_handle=(ProviderFailure,)
            )
            if len(steps) > 1
            else steps[0]
        )
        with self._lock:
            self._chains[key] = chain
            if len(self._chains) > self._size:
                self._chains.popitem(last=False)
        return chain

    def _runnable(self, router: Router, candidate: Candidate) -> CandidateRunnable:
        runnable = self._runnables.get(candidate.key)
        if runnable is None or runnable.candidate != candidate:
            runnable = CandidateRunnable(
                candidate, router.pool, free_only=router.settings.free_only
            )
            self._runnables[candidate.key] = runnable
        return runnable


def local_models(router: Router) -> dict[str, list[str] | None]:
    return router.discovery.models(
        p
        for p in router.settings.provider_order()
        if p.local and not p.models_configured and p.protocol != "llamacpp"
    )


def build_graph(router: Router) -> Runnable[RouteRequest, BaseMessage]:
    failovers = FailoverCache()

    def classify_request(request: RouteRequest) -> RouteRequest:
        router.classify(request)
        return request

    def route(request: RouteRequest) -> Runnable[RouteRequest, BaseMessage]:
        request.offline = router.settings.offline
        request.candidates = select_candidates(request, router.settings, local_models(router))
        return failovers.chain(router, request.candidates)

    # RunnableBranch takes its branches positionally, which mypy's pydantic view misses.
    select = Branch(  # type: ignore[call-arg]
        (Step(_needs_other_output), Step(_raise_unsupported, name="unsupported_task")),  # type: ignore[arg-type]
        Step(route, name="select"),  # type: ignore[arg-type]
    )
    return Pipeline(first=Step(classify_request, name="classify"), last=select)
