"""`openmux playground`: the browser UI, on this machine only."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import socket
import sys

from openmux.cli import tcp_port
from openmux.errors import OpenMuxError

DEFAULT_PORT = 7860


def add_playground_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    playground = commands.add_parser(
        "playground",
        help="chat, compare and vote in the browser (needs the `ui` extra)",
        description="A local web UI: chat with streaming and the routing beside each answer, "
        "compare models side by side, see usage, vote. It has no login, so it binds a "
        "loopback address only.",
    )
    playground.add_argument("--host", default="127.0.0.1", help="a loopback address (default)")
    playground.add_argument(
        "--port", type=tcp_port, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}"
    )


def is_loopback(host: str) -> bool:
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except (socket.gaierror, UnicodeError):
        return False
    return bool(addresses) and all(
        ipaddress.ip_address(address.split("%")[0]).is_loopback for address in addresses
    )


def _cannot_listen(host: str, port: int) -> str | None:
    """Why the playground could not listen on host:port (taken, say), or None.

    Asked before Gradio starts, which reports any failure as a traceback that names no
    reason and advises a Gradio setting instead of --port."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
            sock.bind(address)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def run_playground(args: argparse.Namespace) -> int:
    if not is_loopback(args.host):
        print(
            f"openmux playground: {args.host} is not a loopback address; the playground has "
            "no login, so it serves this machine only (reach it from elsewhere through an "
            "SSH tunnel)",
            file=sys.stderr,
        )
        return 2
    reason = _cannot_listen(args.host, args.port)
    if reason is not None:
        print(
            f"openmux playground: cannot listen on {args.host}:{args.port} ({reason}); "
            "choose another port with --port",
            file=sys.stderr,
        )
        return 2
    try:
        from openmux.playground import launch
    except ImportError:
        print('openmux playground: the UI needs Gradio: pip install "openmux[ui]"', file=sys.stderr)
        return 2
    from openmux.playground import Session

    try:
        session = Session()
        session.provider_names()  # reads the configuration now: a mistake stops here
    except OpenMuxError as exc:
        print(f"openmux playground: {exc}", file=sys.stderr)
        return 1
    # `kill` or a service manager stops it as Ctrl-C does, removing the files it served.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # As a URL has it, which is how Gradio uses it: an IPv6 address in brackets.
    address = f"[{args.host}]" if ":" in args.host else args.host
    print(f"OpenMux playground on http://{address}:{args.port} (Ctrl-C stops it)")
    launch(session, address, args.port)
    return 0
