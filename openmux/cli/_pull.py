"""`openmux pull REPO/FILE.gguf`: download a GGUF model for the `local` provider."""

from __future__ import annotations

import argparse
import sys

from openmux.errors import OpenMuxError


def run_pull(args: argparse.Namespace) -> int:
    from openmux.local import pull

    try:
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
