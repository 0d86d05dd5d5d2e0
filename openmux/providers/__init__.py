"""Providers: the declarative table, adapters per protocol, failure mapping, discovery."""

from openmux.providers._adapters import ModelPool
from openmux.providers._discovery import LocalDiscovery, list_models
from openmux.providers._failures import (
    FailureKind,
    ProviderFailure,
    failure_from_exception,
    local_cause,
    retry_after_seconds,
)
from openmux.providers._table import BUILTIN_PROVIDERS, ModelEntry, ProviderSpec

__all__ = [
    "BUILTIN_PROVIDERS",
    "FailureKind",
    "LocalDiscovery",
    "ModelEntry",
    "ModelPool",
    "ProviderFailure",
    "ProviderSpec",
    "failure_from_exception",
    "list_models",
    "local_cause",
    "retry_after_seconds",
]
