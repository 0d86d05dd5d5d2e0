"""Prometheus metrics: requests, provider attempts by status, latency per provider, and
the free-tier headroom left per provider (read from the quota counters at each scrape).

With several workers, prometheus-client's multiprocess mode (the
`PROMETHEUS_MULTIPROC_DIR` the launcher sets) sums every worker's counters in
one scrape. Labels hold endpoint paths, provider ids, model ids and status
kinds only: never a key, a prompt or an error text.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Milliseconds of overhead up to minutes of slow free models.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


Headroom = Callable[[], Iterable[tuple[str, str, str, int]]]
"""(provider, model or "*" for a provider-wide counter, limit name, what is left)."""


class QuotaHeadroom(Collector):
    """`openmux_quota_remaining`: what is left of each known free-tier limit, now."""

    def __init__(self, headroom: Headroom) -> None:
        self.headroom = headroom

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "openmux_quota_remaining",
            "Requests or tokens left before a free-tier limit (rpm, rpd, tpm, tpd), by "
            'provider and model ("*": a limit the provider\'s models share)',
            labels=["provider", "model", "limit"],
        )
        for provider, model, limit, left in self.headroom():
            gauge.add_metric([provider, model, limit], left)
        yield gauge


class Metrics:
    """One set of collectors per app (tests run several apps in one process)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, headroom: Headroom | None = None) -> None:
        self.registry = CollectorRegistry()
        self.quota = QuotaHeadroom(headroom) if headroom is not None else None
        if self.quota is not None:
            self.registry.register(self.quota)
        self.requests = Counter(
            "openmux_requests",
            "HTTP requests answered, by endpoint and status code",
            ["endpoint", "code"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "openmux_request_duration_seconds",
            "Time to answer a request (to the first event for streams), by endpoint",
            ["endpoint"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.attempts = Counter(
            "openmux_attempts",
            "Provider calls made while routing, by provider and outcome (ok or failure kind)",
            ["provider", "status"],
            registry=self.registry,
        )
        self.provider_seconds = Histogram(
            "openmux_provider_latency_seconds",
            "Duration of each provider call, by provider",
            ["provider"],
            buckets=_BUCKETS,
            registry=self.registry,
        )

        # Each label set's child, kept: `.labels()` validates and locks on every call.
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Counter | Histogram, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def request(self, endpoint: str, code: int, seconds: float) -> None:
        self._child(self.requests, endpoint, str(code)).inc()
        self._child(self.request_seconds, endpoint).observe(seconds)

    def record_attempts(self, attempts: Iterable[Mapping[str, Any]]) -> None:
        for attempt in attempts:
            provider = str(attempt.get("provider"))
            self._child(self.attempts, provider, str(attempt.get("status"))).inc()
            latency_ms = attempt.get("latency_ms")
            if latency_ms:
                self._child(self.provider_seconds, provider).observe(float(latency_ms) / 1000)

    def exposition(self) -> bytes:
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            if self.quota is not None:  # the counters are shared: any worker reads them
                registry.register(self.quota)
            return generate_latest(registry)
        return generate_latest(self.registry)
