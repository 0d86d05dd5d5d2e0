"""The catalog: bundled snapshot + refreshed listings, looked up by (provider, model id)."""

from __future__ import annotations

import json
import logging
import statistics
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openmux.catalog._model import (
    SCORED_TASKS,
    ModelInfo,
    Offer,
    Resolved,
    Score,
    guess_kind,
    model_from_dict,
    normalize,
)
from openmux.catalog._refresh import REFRESH_TIMEOUT, RefreshError, fetch_offers, listing_url
from openmux.catalog._store import CatalogStore, Listing
from openmux.state import restart_in_children

if TYPE_CHECKING:
    from openmux.config import ProviderSettings, Settings
    from openmux.health import HealthStore
    from openmux.providers import ModelEntry

_log = logging.getLogger("openmux.catalog")

DEFAULT_CONTEXT = 32_768
"""ModelEntry's default: a table entry with this context length says nothing about it."""
CHECK_EVERY = 60.0
"""Seconds between checks whether a background refresh is due."""
RETRY_FAILED_AFTER = 900.0
"""Seconds before a failed refresh is tried again in the background."""


@dataclass(frozen=True)
class Bundled:
    snapshot: str
    models: tuple[ModelInfo, ...]
    offers: Mapping[str, tuple[Offer, ...]]


@cache
def bundled() -> Bundled:
    """The snapshot shipped in the package (parsed once per process)."""
    data = resources.files("openmux.catalog") / "data"
    models_doc = json.loads((data / "models.json").read_text(encoding="utf-8"))
    offers_doc = json.loads((data / "offers.json").read_text(encoding="utf-8"))
    metrics = {task: str(m["metric"]) for task, m in models_doc["metrics"].items()}
    models = tuple(model_from_dict(m, metrics) for m in models_doc["models"])
    source = f"bundled {offers_doc['snapshot']}"
    offers = {
        provider: tuple(Offer.from_dict(provider, o, source) for o in entries)
        for provider, entries in offers_doc["providers"].items()
    }
    return Bundled(str(models_doc["snapshot"]), models, offers)


@dataclass
class RefreshResult:
    """What one provider's refresh found, compared with the catalog before it."""

    provider: str
    ok: bool
    count: int = 0
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "ok": self.ok,
            "count": self.count,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "error": self.error,
        }


class Catalog:
    """Thread-safe. `generation` grows whenever what selection sees may have changed."""

    def __init__(
        self,
        models: Iterable[ModelInfo],
        offers: Mapping[str, Sequence[Offer]] | None = None,
        store: CatalogStore | None = None,
        snapshot: str = "",
    ) -> None:
        self.snapshot = snapshot
        self.models: dict[str, ModelInfo] = {m.id: m for m in models}
        self._alias: dict[str, str] = {}
        for info in self.models.values():
            for name in (info.id, *info.aliases):
                self._alias.setdefault(normalize(name), info.id)
                self._alias.setdefault(name.lower(), info.id)
        self._bundled: dict[str, dict[str, Offer]] = {
            provider: {o.id: o for o in entries} for provider, entries in (offers or {}).items()
        }
        self.store = store
        self._listings: dict[str, Listing] = store.load() if store is not None else {}
        self._lock = threading.Lock()
        self._lookups: dict[str, ModelInfo | None] = {}
        self.generation = 0
        self._last_check = float("-inf")
        self._refreshing = False
        self.neutral: dict[str, float] = {}
        self.ranges: dict[str, tuple[float, float]] = {}
        for task in SCORED_TASKS:
            values = [m.scores[task].value for m in self.models.values() if task in m.scores]
            self.neutral[task] = statistics.median(values) if values else 0.0
            self.ranges[task] = (min(values), max(values)) if values else (0.0, 1.0)
        restart_in_children(self)

    def restart_in_child(self) -> None:
        """A refresh running at the fork did not survive it: the child may start its own."""
        self._lock = threading.Lock()
        self._refreshing = False

    # -- lookups ------------------------------------------------------------------------------

    def model(self, model_id: str) -> ModelInfo | None:
        """The model a provider's id names (any spelling the aliases cover), or None."""
        found = self._lookups.get(model_id, self)
        if found is self:
            canonical = self._alias.get(model_id.lower()) or self._alias.get(normalize(model_id))
            found = self.models.get(canonical) if canonical else None
            self._lookups[model_id] = found
        return found  # type: ignore[return-value]

    def canonical(self, model_id: str) -> str | None:
        info = self.model(model_id)
        return info.id if info else None

    def listing(self, provider: ProviderSettings) -> Listing | None:
        """The provider's last good refreshed listing, when it came from this base URL."""
        found = self._listings.get(provider.name)
        if found is None or found.fetched <= 0 or found.base_url != provider.base_url:
            return None
        return found

    def offers_of(self, provider: ProviderSettings) -> dict[str, Offer]:
        listing = self.listing(provider)
        if listing is not None:
            return {o.id: o for o in listing.offers}
        return self._bundled.get(provider.name, {})

    def resolve(
        self, provider: ProviderSettings, model_id: str, table: ModelEntry | None = None
    ) -> Resolved:
        """Refreshed offer > bundled offer > provider table > model record > assumptions.

        A table entry counts only where it says more than a bare id (the built-in table's
        `ModelEntry("id", vision=True)`); unknown models do chat with tools and JSON."""
        offer = self.offers_of(provider).get(model_id)
        info = self.model(offer.model if offer is not None and offer.model else model_id)
        if info is None and offer is not None and offer.model:
            info = self.model(model_id)
        guess = guess_kind(model_id) if info is None else {}
        if table is not None and table == type(table)(table.id):
            table = None  # a bare id (a configured or discovered model): nothing to go by

        def pick(name: str, default: Any) -> Any:
            if offer is not None and getattr(offer, name) is not None:
                return getattr(offer, name)
            if table is not None and name in ("vision", "tools"):
                return getattr(table, name)
            if info is not None:
                return getattr(info, name)
            return guess.get(name, default)

        context = offer.context_length if offer is not None else None
        if context is None and table is not None and table.context_length != DEFAULT_CONTEXT:
            context = table.context_length
        if context is None and info is not None:
            context = info.context_length
        vision = bool(pick("vision", False))
        inputs = tuple(pick("inputs", ("text",)))
        if vision and "image" not in inputs:
            inputs = (*inputs, "image")
        return Resolved(
            id=model_id,
            info=info,
            offer=offer,
            context_length=context,
            vision=vision,
            tools=bool(pick("tools", True)),
            json_mode=bool(pick("json_mode", True)),
            embeddings=bool(pick("embeddings", False)),
            inputs=inputs,
            outputs=tuple(pick("outputs", ("text",))),
        )

    def score(self, info: ModelInfo | None, task: str) -> Score | None:
        return info.scores.get(task) if info is not None else None

    # -- refresh ------------------------------------------------------------------------------

    def refresh(
        self,
        providers: Iterable[ProviderSettings],
        timeout: float = REFRESH_TIMEOUT,
    ) -> list[RefreshResult]:
        """Fetch these providers' listings now (in parallel); a failure keeps the last good."""
        chosen = [p for p in providers if listing_url(p) is not None]
        if not chosen:
            return []
        source = f"refreshed {time.strftime('%Y-%m-%d')}"

        def one(provider: ProviderSettings) -> list[Offer] | RefreshError:
            try:
                return fetch_offers(provider, self.canonical, source, timeout)
            except RefreshError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=min(8, len(chosen))) as pool:
            fetched = list(pool.map(one, chosen))
        results = []
        now = time.time()
        for provider, outcome in zip(chosen, fetched, strict=True):
            if isinstance(outcome, RefreshError):
                results.append(RefreshResult(provider.name, False, error=str(outcome)))
                self._failed(provider, str(outcome), now)
                continue
            results.append(self._apply(provider, outcome, now))
        return results

    def _apply(self, provider: ProviderSettings, offers: list[Offer], now: float) -> RefreshResult:
        before = self.offers_of(provider)
        after = {o.id: o for o in offers}
        changed = [
            i
            for i in sorted(set(before) & set(after))
            if self._facts(before[i]) != self._facts(after[i])
        ]
        listing = Listing(provider.name, provider.base_url, now, tuple(offers), now, "")
        with self._lock:
            self._listings[provider.name] = listing
            self.generation += 1
        if self.store is not None:
            self.store.save(listing)
        return RefreshResult(
            provider.name,
            True,
            count=len(offers),
            added=sorted(set(after) - set(before)),
            removed=sorted(set(before) - set(after)),
            changed=changed,
        )

    def _facts(self, offer: Offer) -> tuple[Any, ...]:
        info = self.model(offer.model or offer.id)
        return (
            offer.free,
            offer.vision if offer.vision is not None else (info.vision if info else None),
            offer.tools if offer.tools is not None else (info.tools if info else None),
            offer.context_length or (info.context_length if info else None),
        )

    def _failed(self, provider: ProviderSettings, error: str, now: float) -> None:
        _log.info(
            "catalog refresh of %s failed: %s (keeping the last good listing)", provider.name, error
        )
        with self._lock:
            old = self._listings.get(provider.name)
            if old is not None:
                self._listings[provider.name] = Listing(
                    old.provider, old.base_url, old.fetched, old.offers, now, error
                )
            else:
                self._listings[provider.name] = Listing(
                    provider.name, provider.base_url, 0.0, (), now, error
                )
        if self.store is not None:
            self.store.mark_failed(provider.name, provider.base_url, error, now)

    def due(self, provider: ProviderSettings, ttl_hours: float, now: float | None = None) -> bool:
        """True when the provider's listing is older than the TTL (and no recent attempt failed)."""
        now = time.time() if now is None else now
        known = self._listings.get(provider.name)
        if known is None:
            return True
        if known.last_error and now - known.last_attempt < min(
            RETRY_FAILED_AFTER, ttl_hours * 3600
        ):
            return False
        if known.base_url != provider.base_url or known.fetched <= 0:
            return True
        return now - known.fetched > ttl_hours * 3600

    def maybe_refresh(self, settings: Settings, health: HealthStore) -> bool:
        """Start a background refresh of stale listings; True when one started.

        Only remote providers whose model list is not configured, that hold a key and have
        answered before (the health store has their latency) are refreshed in the background,
        so OpenMux never lists models at a provider the user does not use.
        """
        now = time.monotonic()
        if self._refreshing or now - self._last_check < CHECK_EVERY or settings.offline:
            return False
        self._last_check = now
        due = [
            p
            for p in settings.provider_order()
            if p.usable
            and not p.local
            and not p.models_configured
            and listing_url(p) is not None
            and self.due(p, settings.catalog_ttl_hours)
            and self._answered_before(p, health)
        ]
        if not due:
            return False
        self._refreshing = True

        def run() -> None:
            try:
                self.refresh(due)
            except Exception:  # a background task must never take the process down
                _log.exception("background catalog refresh failed")
            finally:
                self._refreshing = False

        threading.Thread(target=run, name="openmux-catalog-refresh", daemon=True).start()
        return True

    def _answered_before(self, provider: ProviderSettings, health: HealthStore) -> bool:
        ids = [m.id for m in provider.models] + list(self.offers_of(provider))
        return any(health.p95_first_token_ms(provider.name, i) is not None for i in ids)


_catalogs: dict[Path, Catalog] = {}
_catalogs_lock = threading.Lock()


def catalog_for(state_dir: Path | None) -> Catalog:
    """The process's catalog for this state directory (None: the user state dir)."""
    if state_dir is None:
        from openmux.config import default_state_dir

        state_dir = default_state_dir()
    with _catalogs_lock:
        catalog = _catalogs.get(state_dir)
        if catalog is None:
            data = bundled()
            store = CatalogStore(state_dir / "catalog.sqlite3")
            catalog = Catalog(data.models, data.offers, store, data.snapshot)
            _catalogs[state_dir] = catalog
        return catalog
