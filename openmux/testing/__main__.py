"""Serve fake LLM providers from the command line.

    python -m openmux.testing --port 8765 --provider good --provider bad \\
        --fault bad=status:500

Serves until interrupted (Ctrl-C) and prints each provider's base URLs.
Fault specs are those of `Fault.parse`, e.g. `status:429:2`, `hang`,
`slow_keepalive:1.5`, `mid_stream_error:2`, `flaky:0.3`, `loading`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from openmux.testing._faults import Fault
from openmux.testing._server import FakeProviderServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m openmux.testing",
        description="Serve fake LLM providers (OpenAI, OpenRouter, Ollama protocols) "
        "on 127.0.0.1 for tests.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any)")
    parser.add_argument(
        "--provider",
        action="append",
        default=[],
        metavar="NAME",
        help="add a provider (repeatable; default: one named 'fake')",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="ID",
        help="chat model id every provider serves (repeatable; default: model-1)",
    )
    parser.add_argument(
        "--embedding-model",
        action="append",
        default=[],
        metavar="ID",
        help="embedding model id every provider serves (repeatable)",
    )
    parser.add_argument(
        "--reply", default=None, help="text of plain answers (default: 'Hello from NAME! ...')"
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="give provider NAME a fault, e.g. bad=status:500 or slow=slow_keepalive:2",
    )
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds to wait before healthy answers"
    )
    parser.add_argument(
        "--stream-delay", type=float, default=0.0, help="seconds between streamed chunks"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = args.provider or ["fake"]
    faults: dict[str, Fault] = {}
    for item in args.fault:
        name, sep, spec = item.partition("=")
        if not sep or name not in names:
            print(f"--fault {item!r}: expected NAME=SPEC with a known provider", file=sys.stderr)
            return 2
        try:
            faults[name] = Fault.parse(spec)
        except ValueError as exc:
            print(f"--fault {item!r}: {exc}", file=sys.stderr)
            return 2
    server = FakeProviderServer(port=args.port)
    try:
        server.start()
    except OSError as exc:
        print(f"cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 1
    for name in names:
        server.add_provider(
            name,
            models=args.model or ["model-1"],
            embedding_models=args.embedding_model,
            reply=args.reply,
            fault=faults.get(name),
            latency=args.latency,
        )
        server.providers[name].stream_delay = args.stream_delay
    print(f"Fake provider server on {server.url}", flush=True)
    for name, p in server.providers.items():
        fault = f"  fault: {p.fault.kind}" if p.fault else ""
        print(f"  {name}:{fault}")
        print(f"    OpenAI      {p.base_url}")
        print(f"    OpenRouter  {p.openrouter_base_url}")
        print(f"    Ollama      {p.ollama_base_url}")
    print("Press Ctrl-C to stop.", flush=True)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
