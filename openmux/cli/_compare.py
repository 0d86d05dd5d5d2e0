"""`openmux compare`: ask several models at once, show their answers side by side, then the
combined answer. Only argparse is imported at module level; the rest when the command runs."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

_COMBINERS = ("best", "vote", "concat", "summarize", "local-summarize")
# Below this many columns per member, members are listed as rows instead.
_MIN_COLUMN_WIDTH = 32


def add_compare_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from openmux.cli import _task_name, positive_number

    compare = commands.add_parser(
        "compare",
        help="ask several models at once; show their answers side by side, then the combined one",
        description="Ask several models the same question at once. Prints each model's answer "
        "with its timing, then the combined answer.",
    )
    compare.add_argument("text", nargs="*", help="the question (read from stdin when absent)")
    compare.add_argument(
        "-n",
        type=_count("model"),
        default=3,
        metavar="N",
        help="ask the top N distinct models (default 3)",
    )
    compare.add_argument(
        "--models",
        action="append",
        metavar="NAMES",
        help='these models instead: comma-separated "ID" or "PROVIDER:ID" (repeatable)',
    )
    compare.add_argument(
        "--combiner", choices=_COMBINERS, default="best", help="how to combine (default best)"
    )
    compare.add_argument("--judge", help="the model that judges (best) or merges (summarize)")
    compare.add_argument(
        "--timeout", type=positive_number, help="seconds a model may take before it is left out"
    )
    compare.add_argument(
        "--min-answers",
        type=_count("answer"),
        default=1,
        help="fail unless this many models answer",
    )
    compare.add_argument("--json", action="store_true", help="print the answers as JSON")
    compare.add_argument("--provider", help="only this provider's models")
    compare.add_argument(
        "--task",
        type=_task_name,
        help="skip classification: chat, code, tts, audio, embeddings, image, other",
    )


def _count(noun: str) -> Callable[[str], int]:
    """An argparse type for a count of `noun`s, at least one."""

    def count(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number of {noun}s") from None
        if number < 1:
            raise argparse.ArgumentTypeError(f"{value}: at least 1 {noun}")
        return number

    return count


def _fanout(args: argparse.Namespace) -> int | list[str]:
    if args.models:
        names = [name.strip() for group in args.models for name in group.split(",")]
        return [name for name in names if name]
    return int(args.n)


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    from langchain_core.messages import AIMessage

    return AIMessage(content=content).text


def _seconds(latency_ms: float) -> str:
    return f"{latency_ms / 1000:.2f} s"


def describe_combiner(info: dict[str, Any]) -> str:
    """One line: which combiner, what it chose, and why."""
    parts = [str(info.get("name"))]
    if info.get("winner"):
        parts.append(f"picked {info['winner']}")
    if info.get("agreement") is not None:
        parts.append(f"agreement {info['agreement']:.0%}")
    if info.get("model"):
        parts.append(f"by {info['provider']}:{info['model']}")
    line = ", ".join(parts)
    if info.get("reason"):
        line += f" ({info['reason']})"
    return line


def members_table(members: list[dict[str, Any]], width: int) -> RenderableType:
    from rich.table import Table
    from rich.text import Text

    def status(member: dict[str, Any]) -> Text:
        ok = member["status"] == "ok"
        return Text(member["status"], style="green" if ok else "red")

    def answer(member: dict[str, Any]) -> Text:
        if member["status"] == "ok":
            return Text(_text(member["content"]))
        return Text("(no answer)", style="dim")

    if members and width >= _MIN_COLUMN_WIDTH * len(members):
        table = Table(show_lines=True, expand=True)
        for member in members:
            header = Text(f"{member['provider']}:{member['model']}\n", style="bold")
            header.append_text(status(member))
            header.append(f" · {_seconds(member['latency_ms'])}")
            table.add_column(header, overflow="fold", ratio=1)
        table.add_row(*(answer(m) for m in members))
        return table
    table = Table(show_lines=True, expand=True)
    table.add_column("model", style="bold", overflow="fold")
    table.add_column("status")
    table.add_column("time", justify="right")
    table.add_column("answer", overflow="fold", ratio=1)
    for member in members:
        table.add_row(
            Text(f"{member['provider']}:{member['model']}"),
            status(member),
            _seconds(member["latency_ms"]),
            answer(member),
        )
    return table


def run_compare(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.panel import Panel
    from rich.text import Text

    from openmux.chat_models import ChatOpenMux
    from openmux.cli._chat import report_error
    from openmux.errors import OpenMuxError

    text = " ".join(args.text) if args.text else sys.stdin.read()
    if not text.strip():
        print("openmux compare: nothing to ask (give the question as an argument)", file=sys.stderr)
        return 2
    if args.models and not _fanout(args):
        print("openmux compare: --models names no model (give ID or PROVIDER:ID)", file=sys.stderr)
        return 2
    routing = {k: getattr(args, k) for k in ("provider", "task") if getattr(args, k, None)}
    try:
        message = ChatOpenMux().invoke(
            text,
            fanout=_fanout(args),
            combiner=args.combiner,
            judge=args.judge,
            member_timeout=args.timeout,
            min_answers=args.min_answers,
            **routing,
        )
    except OpenMuxError as exc:
        return report_error(exc)
    meta = message.response_metadata["openmux"]
    if args.json:
        print(
            json.dumps(
                {
                    "response": message.text,
                    "members": meta["members"],
                    "combiner": meta["combiner"],
                    "usage": message.usage_metadata,
                    "openmux": meta,
                },
                indent=2,
                default=str,
            )
        )
        return 0
    console: Console = Console()
    console.print(members_table(meta["members"], console.width))
    title = Text(f"combined · {_seconds(meta['latency_ms'])}", style="bold")
    console.print(Panel(Text(message.text), title=title, title_align="left"))
    console.print(Text(describe_combiner(meta["combiner"]), style="dim"))
    return 0
