"""`openmux serve` next to a direct call to the same fake provider and LiteLLM's proxy.

One run, one fake upstream (its own process), every server in its own process:

0. each target's first chat answer after it started (what it left to its first request);
1. added latency at concurrency 1: p50 and p99 over sequential chat requests,
   interleaved across targets in an order shuffled each round so drift hits all alike (the
   client's own cost is in the direct figure too, so "added" is the server's share),
   and each server's CPU time per request (what load on the machine changes least);
   then the same with each target taking 100 requests in a row per turn: interleaved,
   every server meets CPU caches the others cooled, which costs a large Python process
   more than a small one; back to back is a gateway under steady traffic. Each turn
   starts once no other server is still at work on its last answer (see `settle`);
2. requests per second at the highest concurrency whose p99 stays <= 20 ms, and the
   peak rate at any concurrency tried (1 to 32 clients);
3. streaming: added time to the first content event at concurrency 1;
4. concurrent streams without a stall: streams from a fake that waits 50 ms between
   chunks, opened together in growing numbers; a stall is a gap over 1 s or a stream
   that fails.

`openmux serve` runs under uvicorn (what `openmux serve` uses) and, when granian is
installed, under granian with the same app, to compare the two ASGI servers. A thin
proxy (benchmarks/_thin_proxy.py: Starlette, uvicorn and aiohttp forwarding bytes, no
work of its own) gives the floor: what any Python gateway adds on this machine.
LiteLLM's proxy comes from a separate virtualenv (`--litellm-venv DIR`, made with
`python -m venv DIR && DIR/bin/pip install 'litellm[proxy]'`); without one its
column is skipped. Targets on 2 cores: added <= 1.5 ms p50 and <= 3 ms p99, and
>= 3x LiteLLM proxy's requests per second.

Measured (Dec 2026, a shared 2-core machine, load 1-2, `--requests 500 --streams 100
--seconds 2`): added at concurrency 1, p50 / p99 and server CPU per request: openmux
under uvicorn +2.92 / +6.35 ms, 3.14 ms; under granian +2.97 / +5.44 ms, 3.20 ms; the
thin proxy +0.94 / +3.26 ms, 1.18 ms; LiteLLM's proxy +22.7 / +30.0 ms, 29.3 ms. Peak
495 req/s (uvicorn) against LiteLLM's 41, 12.0x; added time to the first streamed
token +3.6 ms (LiteLLM +20.1 ms); 256 concurrent streams without a stall (LiteLLM 32).
Earlier the same day, before async provider calls moved to aiohttp and the request
path was cut: +7.0 / +11.6 ms and 7.3 ms of server CPU per request. Later, with orjson
and leaner messages on the provider side (a run without LiteLLM, load 1.3 at start):
openmux under uvicorn +2.73 / +4.02 ms, 2.74 ms; under granian +3.12 / +5.32 ms,
3.10 ms; the thin proxy +0.98 / +1.15 ms, 1.10 ms; peak 380 req/s (uvicorn); added time
to the first streamed token +3.9 ms (thin proxy +1.3 ms); 256 streams without a stall.
Then async provider calls moved from aiohttp to the pool's own HTTP/1.1 client, the
server warmed up and froze its heap at start, and the classifier, message building and
usage log were cut. Against the earlier commit as `--baseline-tree`, in one run on a
machine slower than the morning's (load 0.9-1.8; the thin proxy at 1.77 ms of CPU per
request rather than 1.1-1.3, LiteLLM's at 43 rather than 29; `--requests 2000 --streams
200 --seconds 2`): openmux under uvicorn +3.68 / +4.92 ms and 3.76 ms of CPU per
request, the earlier commit +4.24 / +5.34 ms and 4.41 ms, granian +3.56 / +3.99 ms and
3.83 ms, the thin proxy +1.64 / +2.80 ms, LiteLLM's proxy +35.0 / +47.8 ms; peak 442
req/s against the earlier commit's 318 and LiteLLM's 27 (16.5x); added time to the
first streamed token +4.4 ms (earlier commit +5.0, thin proxy +2.0, LiteLLM +31.4);
256 streams without a stall (LiteLLM 16). A day later, on a quiet machine (load 0.9
at start, default options), interleaved: openmux under uvicorn +2.46 / +5.19 ms and
2.56 ms of CPU per request, granian +2.65 / +4.35 ms, the thin proxy +1.03 / +4.13 ms
and 1.20 ms, LiteLLM's proxy +24.5 / +33.3 ms; back to back: openmux +2.57 / +3.58 ms
and 2.44 ms, granian +3.12 / +4.72 ms, the thin proxy +1.02 / +1.30 ms and 1.02 ms,
LiteLLM's proxy +32.7 / +49.7 ms. Peak 588 req/s against LiteLLM's 34 (17.5x); added
time to the first streamed token +3.5 ms (thin proxy +1.4, LiteLLM +25.5); 256 streams
without a stall (LiteLLM 32).

With an answer's bookkeeping moved after its response is sent, in the quietest run yet
(load 0.45, thin proxy +0.43 ms back to back): back to back openmux +1.07 / +1.98 ms and
1.23 ms of CPU per request, interleaved +1.88 / +4.57 ms; peak 911 req/s against
LiteLLM's 51 (17.9x). Minutes later (load 1.3) back to back was +1.93 / +2.82 ms, and
on a newly started machine the next day (load 0.8, the thin proxy at +1.06 back to back
and +1.32 interleaved) +2.47 / +4.25 ms back to back and +2.99 / +5.06 ms interleaved,
2.66-3.05 ms of CPU per request; peak 532 req/s against LiteLLM's 31 (17.0x). In every
run openmux adds 2.1-2.6 times what the thin proxy adds. Where it goes, measured on that
machine by sending the same server another model name (interleaved, three runs of 3000
requests each): the task classifier 0.6-0.65 ms (`openmux/chat` skips it; it takes
0.22 ms for this prompt in a warm loop, 0.53 ms timed inside the server), the hedge race
between the two candidates about 0.2 ms (`hedge_after_ms = false`), one candidate
instead of two about 0.1 ms more.

The first answer after start (section 0) took 561-760 ms in three runs: the hedge's
warm-up built a LangChain chat model, importing langchain_openai, though a served
request's body goes to the provider's endpoint as it came; the first call also loaded
the TLS context's CA bundle. With warm-up building only what the call uses and the
server paying the rest as it starts: 10.2-10.9 ms (the thin proxy 6.7-22.7 ms,
LiteLLM's proxy 621-713 ms). Added latency after it was unchanged: 3000 requests
each, the two commits side by side, +2.58 / +3.76 ms against +2.60 / +3.79 ms
interleaved and +3.02 / +4.56 ms against +3.14 / +4.58 ms back to back (the thin proxy
+1.24 and +1.59 ms at p50).

With a race's first candidate called in the request's own task (no task and no
`asyncio.wait` for it), against the commit before as `--baseline-tree` on a quieter
machine (a direct call 0.7-1.0 ms): back to back +1.67 / +2.61 ms and 1.68 ms of CPU
per request against +1.79 / +3.09 ms and 1.76 ms (the thin proxy +0.71 / +1.29 ms and
0.75 ms); interleaved +2.12 / +4.36 ms against +2.10 / +3.07 ms, 2.30 against 2.24 ms
of CPU (thin proxy +0.91 ms), the one measure that did not move; peak 648 req/s
against LiteLLM's 35 (18.6x), LiteLLM's added p50 +22.7 ms; 256 streams (LiteLLM 32).
Six more runs of 4000 requests each, the two servers taking turns (five in blocks of
100, one request by request; a client that also reads each server's CPU time): 0.07 to
0.18 ms less CPU per request and 0.04 to 0.28 ms less at p50 in every one; in two runs
of 2000 streams, time to the first streamed token 0.08 to 0.17 ms less.

The figures move with the machine more than with most changes. The same commit, within
one hour of one day: back to back +1.39 / +2.49 ms in a run with LiteLLM's proxy and
+1.24 / +1.92 ms in one without it (the thin proxy +0.59 and +0.58 ms); interleaved
+1.97 / +3.81 ms with it and +1.40 / +2.00 ms without: every request LiteLLM's proxy
serves (27 ms of CPU) cools the caches of whatever runs next, and it uses no CPU while
idle. Without it, on Python 3.12 +1.29 / +2.10 ms back to back and +1.43 / +2.19 ms
interleaved, on 3.13 +1.23 / +1.79 and +1.31 / +1.82 ms. Later that evening, in four
runs with the thin proxy at +0.65 to +0.82 ms back to back, openmux added +1.43 to
+1.82 ms (p99 +2.46 to +3.04 ms). Until then the
interleaved order rotated, so each target always followed the same neighbour: the
baseline ran right after its twin (whose shared library code it found warm) and was
0.2-0.5 ms faster to the first token and 1.3-1.6 ms lower at the interleaved p99 in
three runs, though a direct A/B gave the newer commit the lower figures; the two
servers also shared one state directory. With the order shuffled each round and a state
directory each, the two commits measured +1.95 / +3.80 against +2.03 / +3.69 ms
interleaved and +1.64 / +3.04 against +1.64 / +3.11 ms back to back, the same time to the
first token (+2.43 ms), and 0.06-0.09 ms less CPU per request for the newer one.
Then a chat answer's metrics moved after its send, a body already in was read without a
generator and ASCII texts were searched only for the cues ASCII can spell; against the
commit before, in one run (load 0.6-1.3, the thin proxy +0.74 ms back to back): back to
back +1.60 / +2.80 ms against +1.63 / +2.41 ms, interleaved +2.03 / +3.56 against +2.01 /
+3.29 ms, peak 20.3x LiteLLM's; in six A/B runs, 20-76 µs less at p50 in five. Of what
openmux adds, classifying takes 0.30 ms (`openmux/auto` against `openmux/chat`, same
server, back to back).
Then a usage batch's write moved to one writer thread, 50 rows a batch and many rows per
statement: before, in 4000 sequential requests to one server, the request after every
500th took 2.5-4.5 ms longer (a thread started from its path, then a 3.5 ms burst of
SQLite); now none of the slowest 1% falls on a write. Against the commit before, two
runs: back to back +1.62 / +2.52 ms against +1.57 / +3.20 ms (load 0.5-1.5, the thin
proxy +0.73 ms) and +1.28 / +2.40 ms against +1.25 / +2.43 ms (load 0.25-1.6, the thin
proxy +0.62 ms); interleaved +1.94 / +3.53 against +1.93 / +3.34 ms and +1.87 / +3.28
against +1.89 / +3.45 ms; peak 20.9x and 22.6x LiteLLM's; time to the first token +2.15
and +2.27 ms against +2.34 and +2.36 ms.
Then each turn began to wait until the other servers were idle (`settle`). LiteLLM's proxy
works on for about 4 ms after its answer: sent right after that answer, a request to
openmux took 0.73 ms longer at p50 than one sent 20 ms later, and a direct call 0.17 ms
longer, so part of what the interleaved measure charged openmux was LiteLLM's work, not
cold caches. In one run with both ways (1500 requests, a slow hour: the thin proxy at
+1.16 ms) interleaved went from +2.33 / +3.60 to +2.05 / +2.96 ms, the thin proxy from
+1.16 / +1.78 to +1.01 / +1.26 ms. Two full runs the same hour, on a machine about 40 %
slower than in the round before's quiet run (server CPU per request 1.82-1.96 ms back to
back against 1.38, the thin proxy +0.85 and +0.95 ms): interleaved +2.06 / +2.95 and
+2.03 / +2.94 ms, back to back +2.08 / +3.17 and +1.86 / +2.96 ms: the two measures now
agree within 0.2 ms, where before interleaved was 0.3-0.6 ms higher. Peak 20.0x and 21.8x
LiteLLM's. Within the hour, on a slightly faster machine (1.67 ms of CPU per request back to
back, the thin proxy +0.78 ms): interleaved +1.91 / +2.65 ms, back to back +1.74 / +2.44 ms.
Two days later, the same server code in two runs one after the other (1.17 and 1.43 ms of CPU
per request back to back, the thin proxy +0.53 and +0.66 ms): back to back +1.07 / +1.86 and
+1.44 / +2.39 ms, interleaved +1.87 / +2.19 and +1.88 / +2.22 ms. The two measures came apart
again: the direct call took 0.92 ms interleaved against 0.60 ms back to back, and openmux
used 0.5-0.8 ms more CPU per request interleaved (1.92-1.94 ms), each request following
another server's with the CPU caches cold. Peak 21.0x and 21.2x LiteLLM's. A third run 20
minutes later: back to back +1.32 / +2.12 ms, interleaved +1.88 / +2.23 ms, peak 22.7x.
The next day, the same server code (load 0.5-0.75 at start): back to back +1.48 / +2.13 ms
and 1.47 ms of CPU per request, interleaved +1.73 / +2.03 ms and 1.77 ms (the thin proxy
+0.69 and +0.89 ms), peak 20.7x. Run under Python 3.12, what the Dockerfile's image holds,
in place of this machine's 3.11 (every target, the client too): back to back +1.37 / +2.40
ms, interleaved +2.05 / +2.52 ms (the thin proxy +0.68 and +0.98 ms), peak 19.9x: no
faster than 3.11, as in the runs without LiteLLM's proxy above (3.12 and 3.13 within
0.1 ms of 3.11 at p50). With the server's request checks added (about 1 us), on 3.11
again: back to back +1.49 / +2.33 ms, interleaved +1.94 / +2.25 ms, peak 19.3x.

On a machine twice as fast (a 10^7-step Python loop in 0.15 s, against 0.32-0.51 s),
three runs (the last of the code with the stream and request checks of that day): back
to back +0.82 / +2.08, +0.72 / +1.86 and +1.14 / +2.62 ms (0.81-1.15 ms of CPU per
request); interleaved +1.75 / +2.27, +1.45 / +2.15 and +1.79 / +2.55 ms (1.48-1.85 ms);
the thin proxy +0.38-0.52 back to back and +0.75-0.91 interleaved; peak 22.0-22.8x
LiteLLM's. The faster CPU took about a third off back to back and little off
interleaved, where every server's caches are cold: that figure follows what a request
touches more than what it computes. The next day, on a machine between the two (the
loop in 0.21 s), three runs, the first of the code before that day's robustness changes
and two of the code after them: back to back +0.77 / +2.08, +0.71 / +1.64 and +0.93 /
+2.63 ms; interleaved +1.66 / +2.52, +1.64 / +2.21 and +1.61 / +2.44 ms (1.66-1.72 ms of
CPU per request); the thin proxy +0.35-0.45 back to back and +0.83-0.87 interleaved;
peak 21.2x, 22.1x and 18.9x LiteLLM's.
Two days later, on a machine where the direct call took 0.42-0.49 ms interleaved and
LiteLLM's proxy 12.3-15.2 ms of CPU a request (against 0.55-0.78 ms and 15-20 ms), three
runs of the code after that day's fixes (request bodies, media, streams and fetches):
interleaved +1.12 / +1.83, +1.35 / +2.29 and +1.25 / +1.88 ms (1.18-1.38 ms of CPU per
request), back to back +0.68 / +1.44, +0.69 / +1.17 and +0.69 / +1.54 ms; the thin proxy
+0.58-0.70 interleaved and +0.33-0.34 back to back; peak 18.6-20.3x LiteLLM's (20.3-24.4x
under the p99 limit, which LiteLLM's proxy kept at one client in these runs). A fourth
run, of the final code with the last commit of the day before as `--baseline-tree` (five
servers interleaved): +1.45 / +2.19 ms against +1.41 / +2.19 ms interleaved, +0.63 /
+1.44 against +0.63 / +1.30 ms back to back, peak 18.5x against 18.1x, time to the first
token +1.72 against +1.59 ms. The code did not get faster: the machine did, and on it
every measure meets its target, the interleaved p50 by 0.05 to 0.38 ms.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fake import fake_server, free_port

PROMPT = "Explain recursion in one sentence"
P99_LIMIT_MS = 20.0
GIVE_UP_P99_MS = 500.0
CONCURRENCY_STEPS = (1, 2, 4, 8, 16, 32)
STREAM_STEPS = (16, 32, 64, 128, 256)
STALL_S = 1.0
BLOCK = 100
"""Requests in a row per target in the back-to-back measure of added latency."""
SETTLE_S = 0.05
"""Longest wait, before a target's turn, for the other servers to go idle."""
_CONTENT = re.compile(rb'"content":\s*"[^"]')


@dataclass
class Target:
    name: str
    host: str
    port: int
    model: str
    slow_model: str
    path_prefix: str = "/v1"
    health_path: str = "/health"
    slow_port: int | None = None
    """The direct target's slow streams go to the slow fake itself."""
    slow_prefix: str | None = None
    pid: int | None = None
    """The server's process (its workers are its children), for CPU time."""

    def body(self, *, stream: bool = False, slow: bool = False) -> bytes:
        payload = {
            "model": self.slow_model if slow else self.model,
            "messages": [{"role": "user", "content": PROMPT}],
            "stream": stream,
        }
        return json.dumps(payload).encode()


# Both servers check this key on every request (LiteLLM's proxy refuses to start without one).
SERVER_KEY = "sk-bench-0123456789abcdef0123456789abcdef"
HEADERS = {"content-type": "application/json", "authorization": f"Bearer {SERVER_KEY}"}


def server_pids(target: Target) -> list[int]:
    """The target's server process and its children (workers)."""
    if target.pid is None:
        return []
    import psutil

    root = psutil.Process(target.pid)
    return [root.pid, *(child.pid for child in root.children(recursive=True))]


def cpu_seconds(target: Target) -> float:
    """CPU time used so far by the target's server process and its children."""
    import psutil

    total = 0.0
    for pid in server_pids(target):
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def running(pids: list[int]) -> bool:
    """Does a thread of these processes hold a CPU or wait for one (state R in /proc)?
    Without /proc (not Linux): never."""
    for pid in pids:
        try:
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for thread in threads:
            try:
                with open(f"/proc/{pid}/task/{thread}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue  # the thread ended
            if fields and fields[0] == b"R":
                return True
    return False


def settle(pids: list[int]) -> None:
    """Wait (up to SETTLE_S) until these servers are idle. LiteLLM's proxy works on for
    about 4 ms after its answer; a request sent meanwhile shares the two cores with that
    work, which costs a long request path more than the direct call, so some of it
    showed as latency the next target added."""
    deadline = time.perf_counter() + SETTLE_S
    while running(pids) and time.perf_counter() < deadline:
        time.sleep(0.0002)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


_STALE = (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected)


def post(conn: http.client.HTTPConnection, target: Target, body: bytes) -> http.client.HTTPResponse:
    """POST a chat request; a keep-alive connection the server closed is opened again."""
    try:
        conn.request("POST", target.path_prefix + "/chat/completions", body, HEADERS)
        return conn.getresponse()
    except _STALE:
        conn.close()
        conn.request("POST", target.path_prefix + "/chat/completions", body, HEADERS)
        return conn.getresponse()


def one_request(conn: http.client.HTTPConnection, target: Target, body: bytes) -> float:
    started = time.perf_counter()
    response = post(conn, target, body)
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"{target.name}: HTTP {response.status}: {data[:200]!r}")
    return (time.perf_counter() - started) * 1000


def first_content_ms(conn: http.client.HTTPConnection, target: Target, body: bytes) -> float:
    """Milliseconds to the first event with content; reads the stream to its end."""
    started = time.perf_counter()
    response = post(conn, target, body)
    first = None
    seen = b""
    while chunk := response.read1(65536):
        if first is None:
            seen += chunk
            if _CONTENT.search(seen):
                first = (time.perf_counter() - started) * 1000
    if response.status != 200 or first is None:
        raise RuntimeError(f"{target.name}: stream failed (HTTP {response.status})")
    return first


# -- servers -------------------------------------------------------------------------------


def wait_for_port(port: int, process: subprocess.Popen[bytes], name: str, health_path: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", health_path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{name} did not start")


@contextmanager
def process(
    command: list[str],
    port: int,
    name: str,
    env: dict[str, str],
    health_path: str = "/health",
    cwd: str | None = None,
) -> Iterator[int]:
    """Run a server; yields its process id."""
    proc = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, proc, name, health_path)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def openmux_config(workdir: Path, fast_url: str, slow_url: str) -> Path:
    path = workdir / "openmux.toml"
    path.write_text(
        '[router]\nproviders = ["p", "slow"]\n\n'
        f'[providers.p]\nprotocol = "openai"\nbase_url = "{fast_url}/p/v1"\nmodels = ["m-1"]\n\n'
        f'[providers.slow]\nprotocol = "openai"\nbase_url = "{slow_url}/slow/v1"\n'
        'models = ["m-1"]\n'
    )
    return path


def litellm_config(workdir: Path, fast_url: str, slow_url: str) -> Path:
    path = workdir / "litellm.yaml"
    path.write_text(
        "model_list:\n"
        "  - model_name: m-1\n"
        "    litellm_params:\n"
        "      model: openai/m-1\n"
        f"      api_base: {fast_url}/p/v1\n"
        "      api_key: sk-bench\n"
        "  - model_name: m-1-slow\n"
        "    litellm_params:\n"
        "      model: openai/m-1\n"
        f"      api_base: {slow_url}/slow/v1\n"
        "      api_key: sk-bench\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "general_settings:\n"
        f"  master_key: {SERVER_KEY}\n"
    )
    return path


# -- measurements ----------------------------------------------------------------------------


def sequential(
    targets: list[Target],
    count: int,
    measure: Callable[..., float],
    *,
    stream: bool,
    block: int = 1,
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Milliseconds per request by target, and each server's CPU milliseconds per request.

    Each target takes `block` requests in a row per turn: 1 interleaves them request by
    request (every server meets caches the others cooled), more measures servers kept
    busy back to back, as a gateway under steady traffic is.
    """
    conns = {t.name: http.client.HTTPConnection(t.host, t.port, timeout=30) for t in targets}
    bodies = {t.name: t.body(stream=stream) for t in targets}
    times: dict[str, list[float]] = {t.name: [] for t in targets}

    # Shuffled each round, the same way in every run: a server that cooled the CPU caches
    # (or warmed the library code it shares) changes whichever target comes next, so each
    # target meets every place and every neighbour alike. A rotation kept the neighbours
    # fixed: the baseline always ran right after its twin, and the direct call right after
    # LiteLLM's proxy.
    order = random.Random(0)
    pids = {t.name: server_pids(t) for t in targets}
    others = {t.name: [p for o in targets if o is not t for p in pids[o.name]] for t in targets}

    def turns(rounds: int, per_turn: int, keep: bool) -> None:
        for _ in range(rounds):
            for target in order.sample(targets, len(targets)):
                settle(others[target.name])
                for _ in range(per_turn):
                    ms = measure(conns[target.name], target, bodies[target.name])
                    if keep:
                        times[target.name].append(ms)

    turns(30, 1, keep=False)  # warms up connections and caches
    cpu = {t.name: cpu_seconds(t) for t in targets}
    turns(max(1, count // block), block, keep=True)
    for conn in conns.values():
        conn.close()
    done = len(times[targets[0].name])
    per_request = {t.name: (cpu_seconds(t) - cpu[t.name]) * 1000 / done for t in targets}
    return times, per_request


def closed_loop(target: Target, concurrency: int, seconds: float) -> tuple[float, float]:
    """(requests per second, p99 ms) with `concurrency` clients sending back to back."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    failures: list[BaseException] = []
    start = threading.Barrier(concurrency + 1)
    stop_at = [0.0]

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=30)
        body = target.body()
        try:
            one_request(conn, target, body)
            start.wait()
            while time.perf_counter() < stop_at[0]:
                latencies[index].append(one_request(conn, target, body))
        except BaseException as exc:
            failures.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds + 60  # until every client is ready
    start.wait()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{target.name}: {failures[0]}")
    merged = [ms for part in latencies for ms in part]
    return len(merged) / elapsed, percentile(merged, 0.99)


def throughput(target: Target, seconds: float) -> tuple[float, int, float, list[str]]:
    """Best requests per second with p99 <= 20 ms and its concurrency, the peak rate at
    any concurrency tried, and the steps."""
    best, best_at, peak, steps = 0.0, 0, 0.0, []
    for concurrency in CONCURRENCY_STEPS:
        rate, p99 = closed_loop(target, concurrency, seconds)
        steps.append(f"c={concurrency}: {rate:.0f}/s p99 {p99:.0f} ms")
        peak = max(peak, rate)
        if p99 <= P99_LIMIT_MS and rate > best:
            best, best_at = rate, concurrency
        if p99 > GIVE_UP_P99_MS:
            break
    return best, best_at, peak, steps


def slow_stream(target: Target, gaps: list[float], failures: list[str]) -> None:
    """One slow stream, read to its end; appends its longest gap between reads."""
    conn = http.client.HTTPConnection(target.host, target.slow_port or target.port, timeout=30)
    try:
        conn.request(
            "POST",
            (target.slow_prefix or target.path_prefix) + "/chat/completions",
            target.body(stream=True, slow=True),
            HEADERS,
        )
        response = conn.getresponse()
        last = time.perf_counter()
        worst = 0.0
        while response.read1(65536):
            now = time.perf_counter()
            worst, last = max(worst, now - last), now
        gaps.append(worst)  # list.append is atomic: no lock needed
        if response.status != 200:
            failures.append(f"HTTP {response.status}")
    except OSError as exc:
        failures.append(repr(exc))
    finally:
        conn.close()


def streams_without_stall(target: Target) -> tuple[int, str]:
    """The most concurrent slow streams that all ran without a gap over STALL_S."""
    held = 0
    note = "all steps passed"
    for count in STREAM_STEPS:
        gaps: list[float] = []
        failures: list[str] = []
        threads = [
            threading.Thread(target=slow_stream, args=(target, gaps, failures))
            for _ in range(count)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        worst = max(gaps, default=0.0)
        if failures or worst > STALL_S:
            what = failures[0] if failures else f"a {worst:.2f} s gap"
            note = f"{count} streams: {what}"
            break
        held = count
    return held, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="sequential requests each")
    parser.add_argument("--streams", type=int, default=300, help="sequential streams each")
    parser.add_argument("--seconds", type=float, default=3.0, help="per concurrency step")
    parser.add_argument(
        "--litellm-venv",
        default=os.environ.get("LITELLM_VENV"),
        help="a virtualenv holding litellm[proxy] (default: $LITELLM_VENV)",
    )
    parser.add_argument(
        "--baseline-tree",
        help="an earlier openmux source tree (a git worktree of an older commit, say) whose "
        "`openmux serve` runs as one more target: before and after from one run",
    )
    parser.add_argument(
        "--skip-granian", action="store_true", help="leave granian out even when installed"
    )
    args = parser.parse_args()

    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        fast_url = stack.enter_context(fake_server("--provider", "p", "--model", "m-1"))
        slow_url = stack.enter_context(
            fake_server("--provider", "slow", "--model", "m-1", "--stream-delay", "0.05")
        )
        targets = [
            Target(
                "direct",
                "127.0.0.1",
                int(fast_url.rsplit(":", 1)[1]),
                "m-1",
                "m-1",
                "/p/v1",
                slow_port=int(slow_url.rsplit(":", 1)[1]),
                slow_prefix="/slow/v1",
            )
        ]

        env = {
            **os.environ,
            "OPENMUX_CONFIG": str(openmux_config(workdir, fast_url, slow_url)),
            "OPENMUX_STATE_DIR": str(workdir / "state"),
        }
        env["OPENMUX_SERVER_KEYS"] = SERVER_KEY
        port = free_port()
        thin = [
            sys.executable, "-m", "uvicorn", "--app-dir", str(Path(__file__).resolve().parent),
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            "--no-access-log", "_thin_proxy:app",
        ]  # fmt: skip
        thin_env = {**env, "THIN_FAST": f"{fast_url}/p/v1", "THIN_SLOW": f"{slow_url}/slow/v1"}
        pid = stack.enter_context(process(thin, port, "thin proxy", thin_env))
        targets.append(Target("thin proxy (floor)", "127.0.0.1", port, "m-1", "m-1-slow", pid=pid))
        port = free_port()
        pid = stack.enter_context(
            process(
                [sys.executable, "-m", "openmux.cli", "serve", "--port", str(port)],
                port,
                "openmux serve",
                env,
            )
        )
        targets.append(
            Target("openmux (uvicorn)", "127.0.0.1", port, "openmux/auto", "slow:m-1", pid=pid)
        )
        if args.baseline_tree:
            port = free_port()
            tree = str(Path(args.baseline_tree).resolve())
            # `python -m` puts the working directory first on the path: run from the tree.
            # Its own state too: two servers on one state directory read each other's
            # health and usage writes, a cost neither has alone.
            baseline_env = {
                **env,
                "PYTHONPATH": tree,
                "OPENMUX_STATE_DIR": str(workdir / "baseline-state"),
            }
            command = [sys.executable, "-m", "openmux.cli", "serve", "--port", str(port)]
            pid = stack.enter_context(process(command, port, "baseline", baseline_env, cwd=tree))
            targets.append(
                Target("openmux (baseline)", "127.0.0.1", port, "openmux/auto", "slow:m-1", pid=pid)
            )
        if not args.skip_granian and importlib.util.find_spec("granian") is not None:
            port = free_port()
            granian = [
                sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                "--log-level", "warning", "--no-ws", "openmux.server:app_from_environment",
            ]  # fmt: skip
            pid = stack.enter_context(process(granian, port, "granian", env))
            targets.append(
                Target("openmux (granian)", "127.0.0.1", port, "openmux/auto", "slow:m-1", pid=pid)
            )
        if args.litellm_venv:
            port = free_port()
            litellm = [
                str(Path(args.litellm_venv) / "bin" / "litellm"),
                "--config", str(litellm_config(workdir, fast_url, slow_url)),
                "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1",
            ]  # fmt: skip
            litellm_env = {**env, "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"}
            pid = stack.enter_context(
                process(litellm, port, "LiteLLM proxy", litellm_env, "/health/liveliness")
            )
            targets.append(Target("LiteLLM proxy", "127.0.0.1", port, "m-1", "m-1-slow", pid=pid))

        print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f} at start")
        report(targets, args)
        print(f"load average: {os.getloadavg()[0]:.2f} at the end")


def added_at_concurrency_1(targets: list[Target], count: int, *, block: int) -> None:
    times, cpu = sequential(targets, count, one_request, stream=False, block=block)
    base50, base99 = percentile(times["direct"], 0.5), percentile(times["direct"], 0.99)
    for target in targets:
        p50, p99 = percentile(times[target.name], 0.5), percentile(times[target.name], 0.99)
        line = f"   {target.name:<18} p50 {p50:7.3f} ms  p99 {p99:7.3f} ms"
        if target.name != "direct":
            line += f"   added p50 {p50 - base50:+.3f} ms  p99 {p99 - base99:+.3f} ms"
            line += f"   server CPU {cpu[target.name]:.2f} ms/request"
        print(line)


def first_answers(targets: list[Target]) -> None:
    """Each target's first chat answer, on a new connection: what a server leaves to its
    first request (imports, clients, files) rather than paying as it starts."""
    print("\n0. the first chat answer after start, on a new connection")
    for target in targets:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=60)
        print(f"   {target.name:<18} {one_request(conn, target, target.body()):8.1f} ms")
        conn.close()


def report(targets: list[Target], args: argparse.Namespace) -> None:
    first_answers(targets)
    print(f"\n1. concurrency 1, {args.requests} sequential chat requests each, interleaved")
    added_at_concurrency_1(targets, args.requests, block=1)
    print(f"\n   the same, back to back: each target {BLOCK} requests in a row per turn")
    added_at_concurrency_1(targets, args.requests, block=BLOCK)
    print("   target: openmux added <= 1.5 ms p50 and <= 3 ms p99")

    print(f"\n2. requests per second at the highest concurrency with p99 <= {P99_LIMIT_MS:g} ms")
    rates, peaks = {}, {}
    for target in targets:
        rate, at, peak, steps = throughput(target, args.seconds)
        rates[target.name], peaks[target.name] = rate, peak
        within = f"{rate:7.0f} req/s (at c={at})" if at else "   none under the limit"
        print(f"   {target.name:<18} {within}, peak {peak:.0f} req/s   [{'; '.join(steps)}]")
    litellm = "LiteLLM proxy"
    for name in rates:
        if name.startswith("openmux") and peaks.get(litellm):
            ratio = f"{rates[name] / rates[litellm]:.1f}x" if rates.get(litellm) else "n/a"
            print(
                f"   {name} / {litellm}: {ratio} under the p99 limit,"
                f" {peaks[name] / peaks[litellm]:.1f}x at peak (target >= 3x)"
            )

    ttft, _ = sequential(targets, args.streams, first_content_ms, stream=True)
    base = statistics.median(ttft["direct"])
    print(f"\n3. time to first content event, {args.streams} sequential streams each (median)")
    for target in targets:
        median = statistics.median(ttft[target.name])
        added = "" if target.name == "direct" else f"   added {median - base:+.3f} ms"
        print(f"   {target.name:<18} {median:7.3f} ms{added}")

    print(f"\n4. concurrent streams (50 ms between chunks) without a gap over {STALL_S:g} s")
    for target in targets:
        held, note = streams_without_stall(target)
        print(f"   {target.name:<18} {held:4d} streams ({note})")


if __name__ == "__main__":
    main()
