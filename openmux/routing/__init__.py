"""The router: settings, model pool and the Runnable graph that answers a request."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

from openmux.classifier import TaskClassification, TaskType
from openmux.config import Settings
from openmux.health import FailurePolicy, health_store
from openmux.providers import LocalDiscovery, ModelPool
from openmux.routing._graph import build_graph
from openmux.routing._request import Candidate, RouteRequest
from openmux.routing._select import select_candidates, split_model_name

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
        self._classify = resolve_classifier(classifier)
        self.graph: Runnable[RouteRequest, BaseMessage] = build_graph(self)

    def plan(self, request: RouteRequest) -> RouteRequest:
        """Classify and select without calling anything: what `-v` and `/explain` show."""
        from openmux.routing._graph import local_models

        self.classify(request)
        request.offline = self.settings.offline
        request.candidates = select_candidates(request, self.settings, local_models(self))
        return request

    def classify(self, request: RouteRequest) -> TaskClassification:
        if request.task is not None:
            task = TaskType(request.task)
            request.classification = TaskClassification(task, 1.0, [], "task set by the caller")
        else:
            request.classification = self._classify(request.messages)
        return request.classification
