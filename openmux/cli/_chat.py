"""`openmux chat`: one question, one answer."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from openmux.errors import NoProviderAvailable, OpenMuxError, UnsupportedTask

if TYPE_CHECKING:
    from openmux.config import Settings


def routing_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in ("model", "provider", "task") if getattr(args, k, None)}


def _say(lines: list[str]) -> None:
    for line in lines:
        print(line, file=sys.stderr)


def _media_note(message: Any) -> list[str]:
    """A media answer prints no text: say what it is and which verb saves it."""
    from openmux.media import media_blocks

    kinds = sorted({block["type"] for block in media_blocks(message)})
    if not kinds:
        return []
    return [
        f"(the answer is {' and '.join(kinds)}: `openmux image` or `openmux speak` with "
        "-o FILE saves it; --json prints it base64-encoded)"
    ]


def report_error(exc: OpenMuxError, text_option: str = "--task chat") -> int:
    """Print the error; `text_option` is how this command asks for a text answer."""
    text = exc.explain(text_option) if isinstance(exc, UnsupportedTask) else str(exc)
    print(f"openmux: {text}", file=sys.stderr)
    if isinstance(exc, NoProviderAvailable) and not exc.attempts:
        _suggest_openrouter(exc)
    return 1


def _suggest_openrouter(exc: NoProviderAvailable) -> None:
    """Where an OpenRouter key would help: not for a pinned provider, not offline."""
    if any(hint.startswith("openrouter:") for hint in exc.hints):
        print(
            "A free OpenRouter key is the quickest start: export OPENROUTER_API_KEY=...",
            file=sys.stderr,
        )


def local_answer_note(meta: dict[str, Any], settings: Settings) -> str:
    """Why a model on this machine answered, and what would bring the stronger ones."""
    if settings.offline:
        return "(answered by a small local model: OPENMUX_OFFLINE=1 keeps requests on this machine)"
    if meta.get("offline"):
        return (
            "(answered by a small local model: the network is unreachable, so no remote "
            "provider could be asked)"
        )
    if any(attempt["provider"] != meta.get("provider") for attempt in meta.get("attempts", ())):
        return "(answered by a small local model after the remote providers failed; -v lists them)"
    return "(answered by a small local model; set a provider key for stronger answers)"


def run_chat(args: argparse.Namespace) -> int:
    from langchain_core.messages import AIMessageChunk

    from openmux.chat_models import ChatOpenMux
    from openmux.cli._explain import explain_result
    from openmux.quality import remember_answer, run_key

    text = " ".join(args.text) if args.text else sys.stdin.read()
    if not text.strip():
        print(
            "openmux chat: nothing to ask (give the question as an argument or on stdin)",
            file=sys.stderr,
        )
        return 2
    routing = routing_kwargs(args)
    if args.profile:
        routing["profile"] = True
    try:
        llm = ChatOpenMux()
        stream = sys.stdout.isatty() and not args.json and not args.no_stream
        if stream:
            merged: AIMessageChunk | None = None
            for chunk in llm.stream(text, **routing):
                print(chunk.text, end="", flush=True)
                merged = chunk if merged is None else merged + chunk
            print()
            meta = merged.response_metadata["openmux"] if merged else {}
            run_id = merged.id if merged else None
            if merged is not None:
                _say(_media_note(merged))
        else:
            message = llm.invoke(text, **routing)
            meta = message.response_metadata["openmux"]
            run_id = message.id
            if args.json:
                answer: dict[str, Any] = {"response": message.text, "usage": message.usage_metadata}
                from openmux.orchestrator import media_entries

                media = media_entries(message)
                if media:
                    answer["media"] = media
                answer |= {"openmux": meta, "run_id": run_key(run_id) if run_id else None}
                if args.profile:
                    answer["profile"] = meta.get("timings")
                print(json.dumps(answer, indent=2))
            else:
                print(message.text)
                _say(_media_note(message))
    except OpenMuxError as exc:
        return report_error(exc)
    # `openmux vote up|down` grades the latest answer, in another process.
    remember_answer(run_id, meta, llm.settings.state_dir, persist=True)
    if args.verbose:
        _say(explain_result(meta))
    if args.profile and not args.json:
        from openmux.cli._profile import profile_lines

        _say(profile_lines(meta.get("timings") or {}))
    if meta.get("offline") or meta.get("provider") == "local":
        print(local_answer_note(meta, llm.settings), file=sys.stderr)
    return 0
