"""Starting the server: the loopback rule, worker processes, the ASGI server.

Every worker builds its own app from the environment (`app_from_environment`),
so options reach worker processes as environment variables; health, quotas and
the cache are shared between workers through the state store.

uvicorn (with uvloop and httptools) rather than granian, on benchmarks/serve.py's
figures: the same app cost the same CPU per request under both (5.0-6.2 ms on a
loaded 2-core machine, three runs); granian's latency at concurrency 1 was lower
(6.3-6.8 ms added at p50 against uvicorn's 12.7-21.5 ms), but it stalled (a gap of
over a second) at 256 concurrent streams in every run, where uvicorn held 256. Streams are what a
model gateway mostly serves.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from typing import Any, TextIO

from openmux.server._metrics import MULTIPROC_ENV
from openmux.server._security import check_bind, server_keys

MAX_REQUEST_ENV = "OPENMUX_SERVER_MAX_REQUEST_BYTES"
CORS_ENV = "OPENMUX_SERVER_CORS_ORIGINS"
APP_FACTORY = "openmux.server:app_from_environment"


def app_from_environment() -> Any:
    """The app as `openmux serve` runs it; also `uvicorn --factory` or any ASGI server's
    factory option can load it (options from OPENMUX_SERVER_* variables)."""
    from openmux.server._app import DEFAULT_MAX_REQUEST_BYTES, create_app

    warnings.showwarning = _log_warning  # a factory's app is its process's only work
    limit = os.environ.get(MAX_REQUEST_ENV)
    origins = os.environ.get(CORS_ENV, "")
    return create_app(
        max_request_bytes=int(limit) if limit else DEFAULT_MAX_REQUEST_BYTES,
        cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
        freeze_heap=True,  # a factory's app is its process's only work
    )


def _log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """A Python warning as one line of the server's log. Its location says nothing to
    whoever runs a server: the first frame outside OpenMux is the ASGI server's (a fan-out
    that finds fewer models than asked for, say, points at uvicorn's middleware)."""
    from openmux._logging import get_logger

    get_logger("openmux.server").warning("%s", message)


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    workers: int = 1,
    max_request_bytes: int | None = None,
    cors_origins: tuple[str, ...] = (),
    log_level: str = "warning",
) -> None:
    """Run the server until interrupted. Raises ConfigError before listening beyond
    loopback without server keys."""
    import uvicorn

    check_bind(host, server_keys())
    if max_request_bytes is not None:
        os.environ[MAX_REQUEST_ENV] = str(max_request_bytes)
    if cors_origins:
        os.environ[CORS_ENV] = ",".join(cors_origins)
    metrics_dir = None
    if workers > 1 and not os.environ.get(MULTIPROC_ENV):
        # prometheus-client reads this at import, in each worker: set it before they start.
        metrics_dir = tempfile.mkdtemp(prefix="openmux-metrics-")
        os.environ[MULTIPROC_ENV] = metrics_dir
    try:
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
            server_header=False,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
