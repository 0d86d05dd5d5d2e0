"""Circuit breakers, Retry-After benching and latency stats, persisted in SQLite."""

from openmux.health._policy import REACTIONS, FailurePolicy, Reaction
from openmux.health._store import PROVIDER_WIDE, Bench, HealthStore, health_store

__all__ = [
    "PROVIDER_WIDE",
    "REACTIONS",
    "Bench",
    "FailurePolicy",
    "HealthStore",
    "Reaction",
    "health_store",
]
