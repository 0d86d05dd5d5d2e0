"""The `openmux` command. Imports stay inside the commands so `openmux --help` is instant."""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from openmux import __version__

if TYPE_CHECKING:
    from pathlib import Path

_DESCRIPTION = "Ask any AI question and get an answer from free models."

# Scripts tell "run it again later" (1) from "fix the command" (2), as with argparse's own 2.
_EXIT_STATUS = """exit status:
  0    done
  1    not done: no provider answered, the configuration (config file, .env, variables,
       keys) is invalid, or the answer could not be saved
  2    the command line is wrong: an unknown option, a value out of range, a file that
       cannot be read or written (checked before anything is asked)
  130  interrupted (Ctrl-C)
  141  whoever read the output stopped early (`| head`)"""


def _add_routing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help='pin a model: "ID" or "PROVIDER:ID"')
    parser.add_argument("--provider", help="pin a provider id (openrouter, groq, ollama, ...)")
    parser.add_argument(
        "--task",
        type=_task_name,
        help="skip classification: chat, code, tts, audio, embeddings, image, other",
    )


def _task_name(value: str) -> str:
    from openmux.classifier import TaskType

    names = [task.value for task in TaskType]
    if value not in names:
        raise argparse.ArgumentTypeError(f"{value!r} is not a task; use one of: {', '.join(names)}")
    return value


def tcp_port(value: str) -> int:
    """A `--port` argument: a number a socket can bind (the OS would take 99999 as another)."""
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{value!r} is not a TCP port (1 to 65535)")
    return port


def positive_number(value: str) -> float:
    """An option's amount (seconds, megabytes): zero or less would refuse everything or
    mean "no limit" unasked; nan and inf are no amount."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise argparse.ArgumentTypeError(f"{value!r} is not a number above 0")
    return number


def _unwritable(option: str, value: str) -> str | None:
    """Why the file an option names cannot be written, found before any work is done
    (so no provider is asked for an answer that would then be lost)."""
    from pathlib import Path

    path = Path(value).expanduser()
    if path.is_dir():
        return f"{option} {value} is a directory: name a file in it"
    if not path.parent.is_dir():
        return f"{option} {value}: there is no directory {str(path.parent)!r}; create it first"
    if not os.access(path.parent, os.W_OK):
        return f"{option} {value}: the directory {str(path.parent)!r} is not writable"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{option} {value}: the file is not writable"
    return None


def plot_saved(place: str, draw: Callable[[Path], None], command: str) -> bool:
    """Draw a plot into the file `place` names; a file that still cannot be written
    (checked up front by `_unwritable`) is one line, and False."""
    from pathlib import Path

    try:
        draw(Path(place))
    except OSError as exc:
        print(f"{command}: could not write {place}: {exc.strerror}", file=sys.stderr)
        return False
    return True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openmux",
        description=_DESCRIPTION,
        epilog=_EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    chat.add_argument(
        "--profile",
        action="store_true",
        help="time each stage (classify, select, connect, first token, total) on stderr",
    )
    _add_routing_options(chat)

    commands.add_parser(
        "classify",
        help="label a request with its task",
        description="Label requests: chat, code, tts, audio, embeddings, image, other.",
        add_help=False,
    )
    doctor = commands.add_parser(
        "doctor", help="check keys, providers, local servers and benched models"
    )
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    pull = commands.add_parser(
        "pull", help="download a model from the Hugging Face Hub for local use"
    )
    pull.add_argument(
        "spec",
        metavar="REPO/FILE.gguf|whisper-tiny|sd-turbo",
        help="a GGUF chat model (e.g. OWNER/REPO-GGUF/model-Q4_K_M.gguf), or whisper-tiny "
        "(offline transcription) or sd-turbo (offline images)",
    )
    pull.add_argument("--endpoint", help="hub URL (default: $HF_ENDPOINT or huggingface.co)")
    repl = commands.add_parser("repl", help="interactive session (the default with no command)")
    _add_routing_options(repl)
    from openmux.cli._compare import add_compare_parser

    add_compare_parser(commands)
    from openmux.cli._models import add_models_parser

    add_models_parser(commands)
    from openmux.cli._quality import add_quality_parsers

    add_quality_parsers(commands)
    from openmux.cli._playground import add_playground_parser

    add_playground_parser(commands)
    from openmux.cli._serve import add_serve_parser

    add_serve_parser(commands)
    from openmux.cli._stats import add_stats_parser

    add_stats_parser(commands)
    from openmux.cli._media import add_media_parsers

    add_media_parsers(commands)
    _add_setup_commands(commands)
    return parser


def _add_setup_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stores = ("keyring", "file", "dotenv")
    init = commands.add_parser(
        "init",
        help="set up providers and keys, write openmux.toml, ask a test question",
        description="Find keys and local servers, add keys (checked, then stored in the OS "
        "keyring, an encrypted file or .env), write openmux.toml, ask one test question.",
    )
    init.add_argument("--provider", action="append", help="add a key for this provider id")
    init.add_argument("--key-stdin", action="store_true", help="read the key(s) from stdin")
    init.add_argument("--yes", "-y", action="store_true", help="no questions: take the defaults")
    init.add_argument("--store", choices=stores, help="where to keep keys (default: keyring)")
    init.add_argument("--here", action="store_true", help="write ./openmux.toml, not the user one")
    init.add_argument("--base-url", help="the provider's base URL (a proxy or a test server)")
    init.add_argument(
        "--account-id", help="the provider's account id (Cloudflare's CLOUDFLARE_ACCOUNT_ID)"
    )
    init.add_argument("--force", action="store_true", help="replace an existing openmux.toml")
    init.add_argument("--no-test", action="store_true", help="skip the test question")

    config = commands.add_parser("config", help="show or validate the effective configuration")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION")
    show = config_commands.add_parser("show", help="every setting, its value and its source")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument("--all", action="store_true", help="include providers left at defaults")
    show.add_argument("--file", help="use this config file instead of the usual one")
    validate = config_commands.add_parser("validate", help="check the config file")
    validate.add_argument("file", nargs="?", help="the file to check (default: the active one)")

    keys = commands.add_parser("keys", help="list, store or remove provider keys")
    keys_commands = keys.add_subparsers(dest="keys_command", metavar="ACTION")
    listing = keys_commands.add_parser("list", help="where each provider's key comes from")
    listing.add_argument("--json", action="store_true", help="print JSON")
    setter = keys_commands.add_parser("set", help="store a provider's key")
    setter.add_argument("provider", help="a provider id (openrouter, groq, ...)")
    setter.add_argument("--store", choices=stores, help="where (default: the OS keyring)")
    setter.add_argument("--stdin", action="store_true", help="read the key from stdin")
    setter.add_argument("--no-check", action="store_true", help="store without checking it")
    remover = keys_commands.add_parser("rm", help="remove a stored key")
    remover.add_argument("provider", help="a provider id")
    remover.add_argument("--store", choices=(*stores, "all"), help="only from this store")


class _StdoutClosed(Exception):
    """A command printed, but the shell had closed standard output (`>&-`)."""


class _ClosedStdout(io.TextIOBase):
    """Standard output when the shell closed it: the first write fails, so the command
    says so rather than answering into nothing."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise _StdoutClosed


def _hold_closed_streams() -> None:
    """Python leaves a standard stream the shell closed (`<&-`, `>&-`, `2>&-`) as None, and
    its descriptor free: the next file opened (a state database) would take that number,
    and with it whatever a library writes there. /dev/null holds the place."""
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        if getattr(sys, name) is not None:
            continue
        null = os.open(os.devnull, os.O_RDWR)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
    if sys.stdin is None:
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115  (lives as long as the process)
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()
    if sys.stderr is None:
        # Else `print(..., file=sys.stderr)` writes to stdout, into the answer or its JSON.
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a mistake or an interruption ends with one line, never a traceback."""
    _hold_closed_streams()
    try:
        status = _run(list(sys.argv[1:] if argv is None else argv))
        # Output still buffered fails here, where a reader gone early (`| head`) is handled,
        # not at exit, where the interpreter prints the error and exits with 120.
        sys.stdout.flush()
        return status
    except _StdoutClosed:
        print(
            "openmux: standard output is closed: redirect it to a file or to /dev/null",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("\nopenmux: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader stopped early (`openmux models | head`): nothing left to say. Output
        # still buffered must not fail again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (UnicodeEncodeError, UnicodeDecodeError) as exc:
        print(
            f"openmux: the input is not valid UTF-8 text ({exc.reason}); pass UTF-8 text, or"
            " set PYTHONIOENCODING=utf-8 if your terminal uses another encoding",
            file=sys.stderr,
        )
        return 2
    except Exception as exc:
        from openmux.config import SecretsError
        from openmux.errors import ConfigError

        if isinstance(exc, ConfigError):
            from openmux.cli._config import print_config_error

            print_config_error(exc)
            return 1
        if isinstance(exc, SecretsError):
            from openmux._redact import redact

            print(f"openmux: {redact(str(exc))}", file=sys.stderr)
            return 1
        raise


def _run(args_list: list[str]) -> int:
    _reject_undecodable(args_list)
    if sys.stdin is not None and hasattr(sys.stdin, "reconfigure"):
        # Undecodable input fails where it is read, not later as a lone surrogate in a request.
        sys.stdin.reconfigure(errors="strict")
    if args_list[:1] == ["classify"]:
        from openmux.classifier.cli import run

        return run(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    handlers: dict[str | None, Callable[[argparse.Namespace], int]] = {
        "chat": _run_chat,
        "repl": _run_repl,
        None: _run_repl,
        "init": _run_init,
        "config": _run_config,
        "keys": _run_keys,
        "doctor": _run_doctor,
        "pull": _run_pull,
        "compare": _run_compare,
        "models": _run_models,
        "bench": _run_bench,
        "vote": _run_vote,
        "playground": _run_playground,
        "serve": _run_serve,
        "stats": _run_stats,
        "image": _run_image,
        "speak": _run_speak,
        "transcribe": _run_transcribe,
    }
    return handlers[args.command](args)


def _reject_undecodable(args: list[str]) -> None:
    """Arguments that were not UTF-8 arrive with lone surrogates: say so at once."""
    for arg in args:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise UnicodeEncodeError(
                exc.encoding, exc.object, exc.start, exc.end, "a command-line argument is not UTF-8"
            ) from None


def _run_chat(args: argparse.Namespace) -> int:
    from openmux.cli._chat import run_chat

    return run_chat(args)


def _run_repl(args: argparse.Namespace) -> int:
    from openmux.cli._repl import run_repl

    return run_repl(args)


def _run_compare(args: argparse.Namespace) -> int:
    # Handlers are not named like their modules: importing the submodule
    # openmux.cli._compare would replace a function `_compare` in this namespace.
    from openmux.cli._compare import run_compare

    return run_compare(args)


def _run_pull(args: argparse.Namespace) -> int:
    from openmux.cli._pull import run_pull

    return run_pull(args)


def _run_models(args: argparse.Namespace) -> int:
    from openmux.cli._models import run_models

    return run_models(args)


def _run_bench(args: argparse.Namespace) -> int:
    from openmux.cli._quality import run_bench

    return run_bench(args)


def _run_vote(args: argparse.Namespace) -> int:
    from openmux.cli._quality import run_vote

    return run_vote(args)


def _run_playground(args: argparse.Namespace) -> int:
    from openmux.cli._playground import run_playground

    return run_playground(args)


def _run_serve(args: argparse.Namespace) -> int:
    from openmux.cli._serve import run_serve

    return run_serve(args)


def _run_stats(args: argparse.Namespace) -> int:
    from openmux.cli._stats import run_stats

    return run_stats(args)


def _run_image(args: argparse.Namespace) -> int:
    from openmux.cli._media import run_image

    return run_image(args)


def _run_speak(args: argparse.Namespace) -> int:
    from openmux.cli._media import run_speak

    return run_speak(args)


def _run_transcribe(args: argparse.Namespace) -> int:
    from openmux.cli._media import run_transcribe

    return run_transcribe(args)


def _run_doctor(args: argparse.Namespace) -> int:
    from openmux.cli._doctor import run_doctor

    return run_doctor(args)


def _run_init(args: argparse.Namespace) -> int:
    from openmux.cli._init import run_init

    return run_init(args)


def _run_config(args: argparse.Namespace) -> int:
    from openmux.cli._config import run_config

    if args.config_command is None:
        args.config_command, args.json, args.all, args.file = "show", False, False, None
    return run_config(args)


def _run_keys(args: argparse.Namespace) -> int:
    from openmux.cli._keys import run_keys

    if args.keys_command is None:
        args.json = False
    return run_keys(args)
