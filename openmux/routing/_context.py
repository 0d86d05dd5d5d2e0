"""The router: what outlives a request (settings, built models, health, discovery).

Stage functions take it as their first argument; it holds state, never control flow,
so no stage module needs another to be imported first.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from openmux.classifier import resolve_classifier
from openmux.health import FailurePolicy, health_store
from openmux.providers import LocalDiscovery, ModelPool, NetworkProbe

if TYPE_CHECKING:
    from collections.abc import Iterable

    from openmux.cache import ResponseCache
    from openmux.catalog import Catalog
    from openmux.classifier import SecondTier
    from openmux.config import ProviderSettings, Settings
    from openmux.quotas import QuotaGate


class Router:
    """Settings, the model pool, health and failure policy, discovery, the classifier."""

    def __init__(
        self, settings: Settings, classifier: Any = None, catalog: Catalog | None = None
    ) -> None:
        self.settings = settings
        self.pool = ModelPool(settings.timeouts)
        self.health = health_store(settings.state_dir)
        self.policy = FailurePolicy(self.health)
        self.discovery = LocalDiscovery()
        self.network = NetworkProbe()
        self.offline_settings = replace(settings, offline=True)
        self.first_tier = resolve_classifier(classifier)
        if catalog is not None:
            self.catalog = catalog

    @cached_property
    def second_tier(self) -> SecondTier:
        from openmux.classifier import SecondTier

        tier = self.settings.classifier
        return SecondTier(tier.second_tier, tier.threshold, tier.model)

    @cached_property
    def quotas(self) -> QuotaGate:
        from openmux.quotas import QuotaGate

        return QuotaGate(self.settings.state_dir)

    @cached_property
    def response_cache(self) -> ResponseCache | None:
        from openmux.cache import response_cache

        return response_cache(self.settings)

    @cached_property
    def catalog(self) -> Catalog:
        from openmux.catalog import catalog_for

        return catalog_for(self.settings.state_dir)

    def online(self) -> bool:
        """Can any configured remote provider be reached (cached for a few seconds)?"""
        settings = self.settings
        if settings.offline:
            return False
        remote = [p.base_url for p in settings.provider_order() if p.usable and not p.local]
        return not remote or self.network.online(remote)

    def local_models(self) -> dict[str, list[str] | None]:
        return models_on_this_machine(self.settings.provider_order(), self.discovery)


def models_on_this_machine(
    providers: Iterable[ProviderSettings], discovery: LocalDiscovery
) -> dict[str, list[str] | None]:
    """Models of the local servers (probed, cached) and of the in-process provider."""
    # A server is asked for its models unless the config lists them (an Ollama server
    # is also asked for its embedding models, unless those are listed).
    order = [
        p
        for p in providers
        if p.local
        and (not p.models_configured or (p.protocol == "ollama" and not p.embedding_models))
    ]
    found = discovery.models(p for p in order if p.protocol != "llamacpp")
    if any(p.protocol == "llamacpp" for p in order):
        from openmux.local import in_process_models

        models = in_process_models()
        for provider in order:
            if provider.protocol == "llamacpp":
                found[provider.name] = models
    return found
