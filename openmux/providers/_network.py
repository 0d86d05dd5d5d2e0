"""Is this machine online? Answered in at most ~300 ms, then cached.

A remote provider that cannot be reached costs a DNS lookup or a connect
timeout per request; checking once (in parallel, with a short deadline) and
caching the answer lets an offline machine go straight to local models.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

PROBE_DEADLINE = 0.3
CACHE_SECONDS = 30.0
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=PROBE_DEADLINE):
            return True
    except OSError:
        return False


class NetworkProbe:
    def __init__(self) -> None:
        self._answer: tuple[float, bool] | None = None
        self._lock = threading.Lock()
        self._running: threading.Thread | None = None

    def online(self, urls: Iterable[str]) -> bool:
        """True when any of these remote endpoints accepts a TCP connection."""
        if any(os.environ.get(name) for name in _PROXY_VARS):
            return True  # only the proxy knows; let requests try
        targets = []
        for url in urls:
            parts = urlsplit(url)
            if parts.hostname:
                targets.append(
                    (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
                )
        if not targets:
            return True
        answer = self._answer
        if answer is not None:
            if time.monotonic() - answer[0] > CACHE_SECONDS:
                self._start(targets)  # refresh in the background; use the last answer now
            return answer[1]
        thread = self._start(targets)
        thread.join(PROBE_DEADLINE)
        answer = self._answer
        return answer[1] if answer is not None else False

    def _start(self, targets: list[tuple[str, int]]) -> threading.Thread:
        with self._lock:
            if self._running is not None and self._running.is_alive():
                return self._running
            thread = threading.Thread(target=self._probe, args=(targets[:4],), daemon=True)
            self._running = thread
            thread.start()
            return thread

    def _probe(self, targets: list[tuple[str, int]]) -> None:
        targets = list(dict.fromkeys(targets))
        results: list[bool] = []
        done = threading.Event()

        def one(host: str, port: int) -> None:
            ok = _reachable(host, port)
            results.append(ok)
            if ok or len(results) == len(targets):
                done.set()

        for host, port in targets:
            threading.Thread(target=one, args=(host, port), daemon=True).start()
        done.wait(PROBE_DEADLINE * 2)
        self._answer = (time.monotonic(), any(results))
