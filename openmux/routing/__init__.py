"""The router: settings, model pool and the Runnable graph that answers a request."""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

from openmux.classifier import TaskClassification, TaskType
from openmux.config import Settings
from openmux.health import FailurePolicy, health_store
from openmux.providers import LocalDiscovery, ModelPool
from openmux.providers._network import NetworkProbe
from openmux.routing._graph import build_graph
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
        if request.task is not None:
            task = TaskType(request.task)
            request.classification = TaskClassification(task, 1.0, [], "task set by the caller")
        else:
            request.classification = self._classify(request.messages)
        return request.classification
