"""`openmux serve`: the OpenAI-compatible server (the `server` extra)."""

from __future__ import annotations

import argparse
import sys

from openmux.cli import positive_number, tcp_port
from openmux.errors import OpenMuxError

# uvicorn's names, written out so building the parser needs no server extra.
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def add_serve_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="an OpenAI-compatible HTTP server over the router",
        description="Serve /v1/chat/completions, /v1/embeddings, /v1/models, /health and "
        "/metrics. Binds 127.0.0.1 unless --host says otherwise; any other address needs "
        "server keys (OPENMUX_SERVER_KEYS=KEY1,KEY2).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=tcp_port, default=8080, help="port (default: 8080)")
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes sharing the state store"
    )
    serve.add_argument(
        "--max-request-mb",
        type=positive_number,
        default=10.0,
        help="largest request body in megabytes (default: 10)",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser calls from this origin (repeatable; CORS is off by default)",
    )
    serve.add_argument(
        "--log-level",
        type=str.lower,
        choices=_LOG_LEVELS,
        default="warning",
        help="server log level (default: warning)",
    )


def run_serve(args: argparse.Namespace) -> int:
    if args.workers < 1:
        print("openmux: --workers must be at least 1", file=sys.stderr)
        return 2
    try:
        from openmux.server import serve
    except ImportError as exc:
        print(
            f"openmux: serve needs the server extra ({exc.name} is missing): "
            "pip install 'openmux[server]'",
            file=sys.stderr,
        )
        return 2
    try:
        serve(
            args.host,
            args.port,
            workers=args.workers,
            max_request_bytes=int(args.max_request_mb * 1024 * 1024),
            cors_origins=tuple(args.cors_origin),
            log_level=args.log_level,
        )
    except OpenMuxError as exc:
        print(f"openmux: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
