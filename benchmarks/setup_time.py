"""Time from nothing to a first answer: fresh venv, install, `openmux init --yes`, one question.

Steps, each in fresh processes, against a loopback fake OpenRouter (no real key,
no provider traffic; `pip install` itself needs the package index):

  1. `python -m venv`
  2. `pip install <this repository>`
  3. `openmux init --provider openrouter --key-stdin --yes` (key checked at the loopback
     server, stored in the encrypted key file, openmux.toml written)
  4. `openmux chat` answering one question

Target: the total under 2 minutes on 2 cores.

    python benchmarks/setup_time.py [--no-cache] [--store file|dotenv|keyring] [--keep]
                                    [--with PACKAGE ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 120.0
KEY = "sk-or-v1-benchmark0000000000000000000000000000"
MODEL = "meta-llama/llama-3.3-70b-instruct:free"


def timed(
    label: str, results: list[tuple[str, float]], command: list[str], **kwargs: object
) -> str:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"{label} failed with exit code {done.returncode}")
    results.append((label, seconds))
    print(f"{label:<28} {seconds:7.1f} s", flush=True)
    return str(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-cache", action="store_true", help="pip install without its cache")
    parser.add_argument("--store", default="file", choices=("file", "dotenv", "keyring"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--with", dest="extra", action="append", default=[], help="also install this package"
    )
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from openmux.testing import FakeProviderServer  # standard library only

    root = Path(tempfile.mkdtemp(prefix="openmux-setup-"))
    venv, home, work = root / "venv", root / "home", root / "work"
    home.mkdir()
    work.mkdir()
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_TOKEN")) and not k.startswith(("OPENMUX_", "VIRTUAL_ENV"))
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        OPENMUX_STATE_DIR=str(root / "state"),
        OPENMUX_KEYFILE_PASSPHRASE="benchmark passphrase",
        TERM="dumb",
    )
    results: list[tuple[str, float]] = []
    try:
        with FakeProviderServer() as server:
            fake = server.add_provider("openrouter", models=[MODEL], reply="Benchmark answer.")
            timed("python -m venv", results, [sys.executable, "-m", "venv", str(venv)])
            pip = [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(REPO)]
            pip += args.extra
            if args.no_cache:
                pip.insert(4, "--no-cache-dir")
            timed("pip install <repo>", results, pip, env=env, cwd=work)
            openmux = str(bin_dir / "openmux")
            timed(
                "openmux init --yes",
                results,
                [openmux, "init", "--provider", "openrouter", "--key-stdin", "--yes",
                 "--store", args.store, "--base-url", fake.openrouter_base_url, "--no-test"],
                input=KEY + "\n", env=env, cwd=work,
            )  # fmt: skip
            answer = timed(
                "first answer (openmux chat)",
                results,
                [openmux, "chat", "--no-stream", "What is a router?"],
                env=env,
                cwd=work,
            )
            if "Benchmark answer." not in answer:
                raise SystemExit(f"unexpected answer: {answer!r}")
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    total = sum(seconds for _, seconds in results)
    verdict = "within" if total <= TARGET_SECONDS else "OVER"
    print(f"{'total':<28} {total:7.1f} s  ({verdict} the {TARGET_SECONDS:.0f} s target, "
          f"{os.cpu_count()} cores)")  # fmt: skip


if __name__ == "__main__":
    main()
