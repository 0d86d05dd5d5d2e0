"""`openmux pull REPO/FILE.gguf`: download a GGUF model for the `local` provider;
`openmux pull whisper-tiny` / `sd-turbo`: the local transcription and image models."""

from __future__ import annotations

import argparse
import sys

from openmux.errors import OpenMuxError


def run_pull(args: argparse.Namespace) -> int:
    from openmux.local import LOCAL_MEDIA_MODELS

    try:
        if args.spec in LOCAL_MEDIA_MODELS:
            return _pull_media(args)
        from openmux.local import pull

        model = pull(args.spec, endpoint=args.endpoint)
    except OpenMuxError as exc:
        text = str(exc)
        # Errors raised for this command may already start with its name.
        prefix = "" if text.startswith("openmux pull") else "openmux pull: "
        print(f"{prefix}{text}", file=sys.stderr)
        return 1
    print(f"pulled {model.id} ({model.size / 1e6:.1f} MB) to {model.path}")
    print(f'use it: openmux chat --model "local:{model.id}" "..."')
    return 0


def _pull_media(args: argparse.Namespace) -> int:
    from openmux.local import (
        LOCAL_MEDIA_MODELS,
        folder_size,
        media_runtime_available,
        pull_media,
    )

    model = LOCAL_MEDIA_MODELS[args.spec]
    folder = pull_media(model.name, endpoint=args.endpoint)
    print(f"pulled {model.name} ({folder_size(folder) / 1e6:.1f} MB) to {folder}")
    if not media_runtime_available():
        print(f"to run it, install its runtime: {model.install_hint}")
    verb = (
        "openmux transcribe memo.wav"
        if model.makes == "transcription"
        else 'openmux image "..." -o out.png'
    )
    print(f"use it offline: {verb} (or --model local:{model.name})")
    return 0
