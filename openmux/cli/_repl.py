"""The interactive session: a conversation with history and a few slash commands."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

_HELP = """commands:
  /model NAME   pin a model ("ID" or "PROVIDER:ID"); /model auto to unpin
  /task NAME    route as this task (chat, code, ...); /task auto to classify again
  /explain      how the last answer was routed
  /clear        forget the conversation
  /exit         leave (Ctrl-D too)"""


def _history_file() -> Path | None:
    try:
        from platformdirs import user_state_dir

        folder = Path(user_state_dir("openmux", appauthor=False))
        folder.mkdir(parents=True, exist_ok=True)
        return folder / "repl_history"
    except OSError:
        return None


def _setup_readline() -> None:
    try:
        import atexit
        import readline
    except ImportError:  # pragma: no cover - Windows without pyreadline
        return
    path = _history_file()
    if path is None:
        return
    if path.exists():
        with contextlib.suppress(OSError):
            readline.read_history_file(path)
    atexit.register(readline.write_history_file, path)


def _forget_interrupted_imports() -> None:
    """Drop the modules of packages whose import a Ctrl-C stopped, so the next question
    imports them afresh.

    Python forgets a package whose import failed but keeps the submodules it had already
    loaded; importing the package again then finds those without attaching them to it, and
    a package that reads one as its attribute (PyYAML, which the first answer loads) fails
    on every later question of the session."""
    for name in list(sys.modules):
        parent = name.rpartition(".")[0]
        while parent in sys.modules:
            parent = parent.rpartition(".")[0]
        if parent:  # some package above it is gone
            del sys.modules[name]


def _not_a_task(name: str) -> str | None:
    """Why `/task NAME` cannot be taken, said now rather than by every later question."""
    from openmux.cli import _task_name

    try:
        _task_name(name)
    except argparse.ArgumentTypeError as exc:
        return str(exc)
    return None


def run_repl(args: argparse.Namespace) -> int:
    from langchain_core.messages import AIMessageChunk, BaseMessage, HumanMessage

    from openmux.chat_models import ChatOpenMux
    from openmux.cli._chat import report_error, routing_kwargs
    from openmux.cli._explain import explain_result
    from openmux.errors import OpenMuxError

    interactive = sys.stdin.isatty()
    if interactive:
        _setup_readline()
        print("OpenMux: ask anything. /help for commands, /exit to leave.")
    routing: dict[str, Any] = routing_kwargs(args)
    history: list[BaseMessage] = []
    last_meta: dict[str, Any] | None = None
    try:
        llm = ChatOpenMux()
    except OpenMuxError as exc:
        return report_error(exc)
    while True:
        try:
            line = input("> " if interactive else "")
        except EOFError:
            print()
            return 0
        except KeyboardInterrupt:
            print()
            continue
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            command, _, value = line.partition(" ")
            value = value.strip()
            if command in ("/exit", "/quit"):
                return 0
            if command == "/help":
                print(_HELP)
            elif command in ("/model", "/task"):
                key = command[1:]
                if value in ("", "auto"):
                    routing.pop(key, None)
                    print(f"{key}: automatic")
                elif key == "task" and (problem := _not_a_task(value)):
                    print(problem)
                else:
                    routing[key] = value
                    print(f"{key}: {value}")
            elif command == "/explain":
                print("\n".join(explain_result(last_meta)) if last_meta else "nothing answered yet")
            elif command == "/clear":
                history.clear()
                print("conversation cleared")
            else:
                print(f"unknown command {command}; /help lists them")
            continue
        history.append(HumanMessage(line))
        merged: AIMessageChunk | None = None
        try:
            for chunk in llm.stream(history, **routing):
                print(chunk.text, end="", flush=True)
                merged = chunk if merged is None else merged + chunk
            print()
        except OpenMuxError as exc:
            history.pop()
            report_error(exc, "/task chat")
            continue
        except KeyboardInterrupt:
            print("\n(interrupted)")
            history.pop()
            _forget_interrupted_imports()
            continue
        if merged is not None:
            from langchain_core.messages import AIMessage

            last_meta = merged.response_metadata.get("openmux")
            history.append(AIMessage(content=merged.text, response_metadata={"openmux": last_meta}))
