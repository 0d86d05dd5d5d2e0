"""The `openmux` command. Imports stay inside the commands so `openmux --help` is instant."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from openmux import __version__

_DESCRIPTION = "Ask any AI question and get an answer from free models."


def _add_routing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help='pin a model: "ID" or "PROVIDER:ID"')
    parser.add_argument("--provider", help="pin a provider id (openrouter, groq, ollama, ...)")
    parser.add_argument(
        "--task", help="skip classification: chat, code, tts, audio, embeddings, image, other"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openmux", description=_DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"openmux {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    chat = commands.add_parser(
        "chat", help="answer one question", description="Answer one question."
    )
    chat.add_argument("text", nargs="*", help="the question (read from stdin when absent)")
    chat.add_argument(
        "--json", action="store_true", help="print the answer with its metadata as JSON"
    )
    chat.add_argument("-v", "--verbose", action="store_true", help="explain the routing on stderr")
    chat.add_argument("--no-stream", action="store_true", help="wait for the whole answer")
    _add_routing_options(chat)

    commands.add_parser(
        "classify",
        help="label a request with its task",
        description="Label requests: chat, code, tts, audio, embeddings, image, other.",
        add_help=False,
    )
    repl = commands.add_parser("repl", help="interactive session (the default with no command)")
    _add_routing_options(repl)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["classify"]:
        from openmux.classifier.cli import run

        return run(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    handlers: dict[str | None, Callable[[argparse.Namespace], int]] = {
        "chat": _chat,
        "repl": _repl,
        None: _repl,
    }
    return handlers[args.command](args)


def _chat(args: argparse.Namespace) -> int:
    from openmux.cli._chat import run_chat

    return run_chat(args)


def _repl(args: argparse.Namespace) -> int:
    from openmux.cli._repl import run_repl

    return run_repl(args)
