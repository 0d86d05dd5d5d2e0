"""`openmux image`, `openmux speak`, `openmux transcribe`: the media functions from a shell."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from openmux.cli import _unwritable
from openmux.errors import OpenMuxError


def add_media_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    image = commands.add_parser("image", help="generate an image from a prompt")
    image.add_argument("prompt", nargs="+", help="what to draw")
    image.add_argument(
        "-o", "--output", help="file to write, - for stdout (default: image.png or .jpg)"
    )
    image.add_argument("--size", help="WIDTHxHEIGHT, where the model takes a size")
    speak = commands.add_parser("speak", help="turn text into speech")
    speak.add_argument("text", nargs="+", help="what to say")
    speak.add_argument(
        "-o", "--output", help="file to write, - for stdout (default: speech.wav or .mp3)"
    )
    speak.add_argument("--voice", help="the model's voice name")
    speak.add_argument(
        "--format", dest="audio_format", choices=["wav", "mp3"], help="default: from -o's suffix"
    )
    transcribe = commands.add_parser("transcribe", help="turn a recording into text")
    transcribe.add_argument("file", help="the recording (wav, mp3, ...)")
    transcribe.add_argument("--language", help="ISO 639-1 code, e.g. en (default: detected)")
    for parser in (image, speak, transcribe):
        parser.add_argument("--model", help='pin a model: "ID" or "PROVIDER:ID"')
        parser.add_argument("--provider", help="pin a provider id (cloudflare, groq, ...)")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _routing(args: argparse.Namespace) -> dict[str, Any]:
    return {key: getattr(args, key) for key in ("model", "provider") if getattr(args, key)}


def _summary(metadata: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        **fields,
        "provider": metadata.get("provider"),
        "model": metadata.get("model"),
        "latency_ms": metadata.get("latency_ms"),
        "attempts": metadata.get("attempts", []),
    }


def _fail(exc: Exception) -> int:
    from openmux.cli._chat import report_error

    if isinstance(exc, OpenMuxError):
        return report_error(exc)
    print(f"openmux: {exc}", file=sys.stderr)
    return 2


def _in_its_format(media: Any, target: Path) -> Path:
    """`target`, unless its suffix names another format than the media's (Cloudflare draws
    JPEGs and MeloTTS speaks MP3, whatever the name asked for): then the same name with the
    media's suffix, numbered rather than overwriting a file nobody named."""
    from openmux.providers import MIME_SUFFIXES

    promises = {suffix: mime for mime, suffix in MIME_SUFFIXES.items()} | {".jpeg": "image/jpeg"}
    named = promises.get(target.suffix.lower())
    if named in (None, media.mime_type) or media.mime_type not in MIME_SUFFIXES:
        return target
    path = target.with_suffix(media.suffix)
    number = 0
    while path.exists():
        number += 1
        path = target.with_name(f"{target.stem}-{number}{media.suffix}")
    return path


def _output_problem(args: argparse.Namespace) -> str | None:
    """Why `-o` cannot take the media, found before any provider is asked."""
    if args.output != "-":
        return _unwritable("-o", args.output) if args.output else None
    if args.json:
        return "-o - writes the bytes to stdout, where --json prints too: give one of them"
    if sys.stdout.isatty():
        return "-o - writes the bytes to stdout, a terminal here: redirect it (> FILE, | PROGRAM)"
    return None


def _kept_elsewhere(media: Any, stem: str) -> str | None:
    """A temporary file holding the media the asked-for place refused (a full disk, a
    place that only looked writable): it was made, and paid for in quota."""
    import os
    import tempfile

    try:
        fd, name = tempfile.mkstemp(prefix=f"openmux-{stem}-", suffix=media.suffix)
        with os.fdopen(fd, "wb") as file:
            file.write(media.data)
    except OSError:
        return None
    return name


def _saved(
    media: Any, output: str | None, stem: str, args: argparse.Namespace, *, exact: bool = False
) -> int:
    """Save `media` (to `output` as given when `exact`; "-" is stdout) and say where."""
    if output == "-":
        sys.stdout.buffer.write(media.data)
        sys.stdout.flush()
        where = "stdout"
    else:
        target = Path(output).expanduser() if output else Path(f"{stem}{media.suffix}")
        path = target if exact else _in_its_format(media, target)
        try:
            media.save(path)
        except OSError as exc:
            problem = f"openmux: could not write {path}: {exc.strerror}"
            kept = _kept_elsewhere(media, stem)
            print(f"{problem}; saved it as {kept}" if kept else problem, file=sys.stderr)
            return 1
        if path != target:
            print(
                f"openmux: the {stem} came as {media.suffix[1:].upper()}, not "
                f"{target.suffix[1:].upper()}: saved as {path}",
                file=sys.stderr,
            )
        where = str(path)
    if args.json:
        info = _summary(media.metadata, path=where, mime_type=media.mime_type)
        print(json.dumps({**info, "bytes": len(media.data)}))
    else:
        print(
            f"{where} ({media.mime_type}, {len(media.data)} bytes) from "
            f"{media.metadata.get('provider')}:{media.metadata.get('model')}",
            file=sys.stderr,
        )
    return 0


def run_image(args: argparse.Namespace) -> int:
    from openmux.media import generate_image

    if problem := _output_problem(args):
        print(f"openmux: {problem}", file=sys.stderr)
        return 2
    try:
        image = generate_image(" ".join(args.prompt), size=args.size, **_routing(args))
    except (OpenMuxError, ValueError) as exc:
        return _fail(exc)
    return _saved(image, args.output, "image", args)


def run_speak(args: argparse.Namespace) -> int:
    from openmux.media import speak

    if problem := _output_problem(args):
        print(f"openmux: {problem}", file=sys.stderr)
        return 2
    audio_format: str | list[str] | None = args.audio_format
    suffix = Path(args.output).suffix.lower() if args.output else ""
    formats = {".mp3": "mp3", ".wav": "wav"}
    if audio_format is None and args.output:
        named = formats.get(suffix)
        if suffix and named is None:
            print(
                f"openmux: -o {args.output}: speech is written as .wav or .mp3 "
                "(or give --format to use this name anyway)",
                file=sys.stderr,
            )
            return 2
        # The suffix's format is preferred, not required: a model making the other one
        # still answers when none making it can, and the file is named for what came.
        audio_format = [named, *(f for f in formats.values() if f != named)] if named else None
    try:
        sound = speak(
            " ".join(args.text), voice=args.voice, audio_format=audio_format, **_routing(args)
        )
    except (OpenMuxError, ValueError) as exc:
        return _fail(exc)
    # `--format` with a suffix of another format: the user wants this very name.
    return _saved(sound, args.output, "speech", args, exact=bool(suffix) and suffix not in formats)


def run_transcribe(args: argparse.Namespace) -> int:
    from openmux.media import transcribe

    try:
        transcript = transcribe(args.file, language=args.language, **_routing(args))
    except (OpenMuxError, ValueError) as exc:
        return _fail(exc)
    if args.json:
        print(json.dumps(_summary(transcript.metadata, text=transcript.text)))
    else:
        print(transcript.text)
    return 0


def media_makers(settings: Any, usable: set[str]) -> dict[str, list[str]]:
    """Per media kind, the `PROVIDER:MODEL`s that can make it now (for `openmux doctor`)."""
    from openmux.config import MEDIA_KINDS
    from openmux.providers import media_missing

    makers: dict[str, list[str]] = {kind: [] for kind in MEDIA_KINDS}
    for provider in settings.provider_order():
        if provider.name not in usable:
            continue
        for model in provider.media_models:
            if not media_missing(model.wire):
                makers[model.makes].append(f"{provider.name}:{model.id}")
    return makers


_NO_MAKER = "none: set a key that serves it (README: Images, speech and transcription)"


def media_lines(makers: dict[str, list[str]]) -> list[str]:
    return [f"{kind}: {', '.join(found) or _NO_MAKER}" for kind, found in makers.items()]
