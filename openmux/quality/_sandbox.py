"""Run a model's code against unit tests in a separate Python process.

The child runs in isolated mode (`-I`: no user site, no PYTHON* variables) in an empty
temporary directory, with an environment that holds no keys, CPU and memory limits
where the OS has them, and an audit hook that refuses sockets, subprocesses and
`exec`-family calls before the model's code runs. The parent kills it at the timeout.
This keeps a wrong or careless answer from touching the network or the machine; it is
not a boundary against code written to escape (run untrusted models in a container).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

_HARNESS = r"""
import sys

try:
    import resource
except ImportError:  # not on Windows
    resource = None
if resource is not None:
    cpu = int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    memory = 1 << 30
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

_REFUSED = ("socket.", "subprocess.", "os.system", "os.exec", "os.posix_spawn", "os.fork",
            "os.spawn", "os.startfile", "ctypes.")

def _guard(event, args):
    if event.startswith(_REFUSED):
        raise PermissionError(f"{event} is not allowed in the bench sandbox")

solution = open(sys.argv[1], encoding="utf-8").read()
tests = open(sys.argv[2], encoding="utf-8").read()
sys.addaudithook(_guard)
namespace = {"__name__": "solution"}
exec(compile(solution, "solution.py", "exec"), namespace)
exec(compile(tests, "tests.py", "exec"), namespace)
"""


@dataclass(frozen=True)
class SandboxResult:
    passed: bool
    detail: str
    """Empty when passed; else the last line of the error, or "timeout"."""


def run_tests(solution: str, tests: str, *, timeout: float = 10.0) -> SandboxResult:
    """Run `solution` then `tests` (plain asserts) in a fresh, network-less Python process."""
    with tempfile.TemporaryDirectory(prefix="openmux-bench-") as folder:
        work = Path(folder)
        (work / "harness.py").write_text(_HARNESS, encoding="utf-8")
        (work / "solution.py").write_text(solution, encoding="utf-8")
        (work / "tests.py").write_text(tests, encoding="utf-8")
        command = [
            sys.executable,
            "-I",
            "harness.py",
            "solution.py",
            "tests.py",
            str(max(1, int(timeout) + 1)),
        ]
        env = {"PATH": os.defpath, "PYTHONIOENCODING": "utf-8"}
        try:
            done = subprocess.run(
                command, cwd=work, env=env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return SandboxResult(False, "timeout")
    if done.returncode == 0:
        return SandboxResult(True, "")
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return SandboxResult(False, lines[-1][:200] if lines else f"exit status {done.returncode}")
