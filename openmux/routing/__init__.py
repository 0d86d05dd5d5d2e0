"""The router: settings, model pool and the Runnable graph that answers a request."""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

from openmux.classifier import TaskClassification, TaskType
from openmux.classifier._second_tier import SecondTier, question
from openmux.config import Settings
from openmux.errors import OpenMuxError
from openmux.health import FailurePolicy, health_store
from openmux.providers import LocalDiscovery, ModelPool
from openmux.providers._network import NetworkProbe
from openmux.routing._graph import build_graph
from openmux.routing._quiet import QUIET
from openmux.routing._request import Candidate, RouteRequest
from openmux.routing._select import select_candidates, split_model_name

if TYPE_CHECKING:
    from openmux.catalog import Catalog

__all__ = ["Candidate", "RouteRequest", "Router", "select_candidates", "split_model_name"]


class Router:
    """Owns what outlives a request: settings, built models, discovery, the graph."""

    def __init__(self, settings: Settings, classifier: Any = None) -> None:
        from openmux.classifier import resolve_classifier

        self.settings = settings
        self.pool = ModelPool(settings.timeouts)
        self.health = health_store(settings.state_dir)
        self.policy = FailurePolicy(self.health)
        self.max_attempts = settings.max_attempts
        self.discovery = LocalDiscovery()
        self.network = NetworkProbe()
        self._offline_settings = replace(settings, offline=True)
        self._classify = resolve_classifier(classifier)
        tier = settings.classifier
        self._second_tier = SecondTier(tier.second_tier, tier.threshold, tier.model)
        self.graph: Runnable[RouteRequest, BaseMessage] = build_graph(self)

    def plan(self, request: RouteRequest) -> RouteRequest:
        """Classify and select without calling anything: what `-v` and `/explain` show."""
        self.classify(request)
        return self.select(request)

    def select(self, request: RouteRequest) -> RouteRequest:
        """Fill the request's budget and ordered candidates (offline: local ones only)."""
        from openmux.routing._graph import local_models

        settings = self.settings
        request.deadline = request.started + settings.timeouts.total
        request.max_attempts = self.max_attempts
        request.offline = settings.offline or not self._online()
        if request.offline and not settings.offline:
            settings = self._offline_settings
        request.candidates = select_candidates(
            request, settings, local_models(self), catalog=self.catalog, health=self.health
        )
        return request

    @cached_property
    def catalog(self) -> Catalog:
        from openmux.catalog import catalog_for

        return catalog_for(self.settings.state_dir)

    def _online(self) -> bool:
        remote = [p.base_url for p in self.settings.provider_order() if p.usable and not p.local]
        return not remote or self.network.online(remote)

    def classify(self, request: RouteRequest) -> TaskClassification:
        result = self._first_tier(request)
        asked = self._second_tier_question(request, result)
        if asked is not None:
            try:
                reply: str | None = self.graph.invoke(asked, QUIET).text
            except OpenMuxError:
                reply = None
            result = self._second_tier_decides(result, asked, reply)
        request.classification = result
        return result

    async def aclassify(self, request: RouteRequest) -> TaskClassification:
        """`classify`, with the second tier's question asked without blocking the loop."""
        result = self._first_tier(request)
        asked = self._second_tier_question(request, result)
        if asked is not None:
            try:
                reply: str | None = (await self.graph.ainvoke(asked, QUIET)).text
            except OpenMuxError:
                reply = None
            result = self._second_tier_decides(result, asked, reply)
        request.classification = result
        return result

    def _first_tier(self, request: RouteRequest) -> TaskClassification:
        if request.task is not None:
            return TaskClassification(TaskType(request.task), 1.0, [], "task set by the caller")
        return self._classify(request.messages)

    def _second_tier_question(
        self, request: RouteRequest, first: TaskClassification
    ) -> RouteRequest | None:
        """The chat request that asks for a second opinion, when one is wanted."""
        tier = self._second_tier
        if (
            request.task is not None
            or not tier.wanted(first, request.messages)
            or self.settings.offline
            or not self._online()
        ):
            return None
        return RouteRequest(
            messages=question(request.messages),
            call_kwargs=dict(_LABEL_CALL),
            task="chat",
            model=tier.model,
        )

    def _second_tier_decides(
        self, first: TaskClassification, asked: RouteRequest, reply: str | None
    ) -> TaskClassification:
        winner = asked.winner
        by = f"second tier ({winner.provider.name}:{winner.model.id})" if winner else "second tier"
        return self._second_tier.decide(first, reply, by)


# A label is one short word; a little room for a model that adds punctuation.
_LABEL_CALL = {"max_tokens": 8, "temperature": 0}
