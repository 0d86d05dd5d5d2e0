"""The model catalog: what each model can do, how good it is per task (with the source of
every figure), and which provider serves it under which id.

A snapshot ships in the package (`data/models.json`, `data/offers.json`), so selection
works offline. Providers' own listings refresh it (on demand with `openmux models
refresh`, or in the background once a day, `[catalog] ttl_hours`), cached in
`catalog.sqlite3` in the state dir. Nothing here is loaded by `import openmux`: the
router loads the catalog on its first selection.
"""

from openmux.catalog._catalog import Catalog, RefreshResult, bundled, catalog_for
from openmux.catalog._model import (
    SCORED_TASKS,
    ModelInfo,
    Offer,
    Resolved,
    Score,
    is_embedding_id,
    normalize,
)
from openmux.catalog._store import CatalogStore, Listing

__all__ = [
    "SCORED_TASKS",
    "Catalog",
    "CatalogStore",
    "Listing",
    "ModelInfo",
    "Offer",
    "RefreshResult",
    "Resolved",
    "Score",
    "bundled",
    "catalog_for",
    "is_embedding_id",
    "normalize",
]
