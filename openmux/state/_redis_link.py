"""One connection to a Redis-protocol server that degrades instead of failing.

A request never waits for a server known to be down, nor reconnects to it: calls answer
their default at once, and a background thread (which also runs the stores' sync hooks)
tries again every RETRY_SECONDS. Going down logs one warning, coming back one info line.

A server that answers but refuses a command (a key of OpenMux's names that another
program holds with another type, a full or read-only server) is no outage: that call
answers its default, the others go on, and one warning for the process says why.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from openmux._logging import get_logger
from openmux._redact import redact
from openmux.state._fork import restart_in_children

_log = get_logger("openmux.state")

CONNECT_TIMEOUT = 0.5
SOCKET_TIMEOUT = 1.0
RETRY_SECONDS = 1.0
_REFUSED_SIGNS = ("AuthenticationError", "WRONGPASS", "NOAUTH", "invalid password", "DB index")
"""What the server answers a wrong password or database with (redis-py and the server)."""
_FOREIGN_SIGNS = ("WRONGTYPE", "not an integer")
"""What the server answers when a key holds a value OpenMux never wrote there."""
SYNC_SECONDS = 0.2
"""How often stores write batches and read others' changes: a bench shows elsewhere
within about this long even when its write-through was missed."""

T = TypeVar("T")


def _errors() -> tuple[type[BaseException], ...]:
    import redis

    return (redis.RedisError, OSError)


class RedisLink:
    def __init__(self, url: str, password: str | None = None) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.shown = redact(url)
        options: dict[str, Any] = dict(
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=SOCKET_TIMEOUT,
            health_check_interval=30,
            # One immediate retry (a pooled connection the server closed); more, with
            # redis-py's default backoff, would hold a request for seconds on an outage.
            retry=Retry(NoBackoff(), 1),
        )
        if password is not None:
            options["password"] = password
        self.client = redis.Redis.from_url(url, **options)
        self._errors = _errors()
        self.up = False
        self.problem = "not tried yet"
        self._said_down = False
        self._said_refused = False
        self._hooks: list[Callable[[], None]] = []
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.closed = False
        restart_in_children(self)
        self.ping(background=True)

    # -- calls ------------------------------------------------------------------------------

    def run(self, action: Callable[[Any], T], default: T, *, background: bool = False) -> T:
        """`action(client)`, or `default` when the server is down (tried again only from
        the background thread) or fails now (then marked down)."""
        if self.closed or (not self.up and not background):
            return default
        try:
            result = action(self.client)
        except self._errors as exc:
            if _is_refused_command(exc):
                self.refused(exc)
            else:
                self._went_down(exc)
            return default
        if not self.up:
            self._came_back()
        return result

    def ping(self, *, background: bool = False) -> bool:
        return bool(self.run(lambda client: client.ping(), False, background=background))

    def _went_down(self, exc: BaseException) -> None:
        self.up = False
        self.problem = redact(f"{type(exc).__name__}: {exc}")
        self._start()
        with self._lock:
            if self._said_down:
                return
            self._said_down = True
        # A wrong password or database is the url's mistake, not an outage: say which.
        refused = any(sign in self.problem for sign in _REFUSED_SIGNS)
        _log.warning(
            "state server %s %s (%s)%s: answering from local state, retrying every %.0f s",
            self.shown,
            "refused the url's password or database" if refused else "unreachable",
            self.problem,
            "; check the state url" if refused else "",
            RETRY_SECONDS,
        )

    def refused(self, exc: BaseException) -> None:
        """The server answered `exc` to a command: said once, and the link stays up."""
        with self._lock:
            if self._said_refused:
                return
            self._said_refused = True
        problem = redact(f"{type(exc).__name__}: {exc}")
        foreign = any(sign in problem for sign in _FOREIGN_SIGNS)
        _log.warning(
            "state server %s refused a command (%s): that state stays local%s",
            self.shown,
            problem,
            "; another program keeps keys of OpenMux's names there: give OpenMux a database"
            " of its own in the state url (redis://HOST:6379/N)"
            if foreign
            else "",
        )

    def _came_back(self) -> None:
        self.up = True
        self.problem = ""
        with self._lock:
            said, self._said_down = self._said_down, False
        if said:
            _log.info("state server %s reachable again: writing what waited", self.shown)

    # -- the background thread --------------------------------------------------------------

    def on_sync(self, hook: Callable[[], None]) -> None:
        with self._lock:
            self._hooks.append(hook)
        self._start()

    def wake(self) -> None:
        self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=_sync_loop, args=(weakref.ref(self),), name="openmux-state", daemon=True
            )
        self._thread.start()

    def sync_once(self) -> None:
        """Reconnect when down (at most every RETRY_SECONDS), then run the hooks."""
        if not self.up and not self.ping(background=True):
            return
        with self._lock:
            hooks = list(self._hooks)
        for hook in hooks:
            try:
                hook()
            except Exception:  # a hook's bug must not stop the others' syncing
                _log.exception("state sync failed")

    def restart_in_child(self) -> None:
        """A forked process has no sync thread (threads do not survive a fork): start anew."""
        self._thread = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        if self._hooks or not self.up:
            self._start()

    def close(self) -> None:
        """Stop syncing (what waits in the stores' outboxes stays there) and disconnect."""
        self.closed = True
        self._wake.set()
        self.client.close()


def _is_refused_command(exc: BaseException) -> bool:
    """The server answered the command with an error (as opposed to no answer, or one
    that refuses the connection's password or database)."""
    import redis

    text = str(exc)
    return isinstance(exc, redis.ResponseError) and not any(s in text for s in _REFUSED_SIGNS)


def _sync_loop(link_ref: weakref.ref[RedisLink]) -> None:
    last_try = 0.0
    while True:
        link = link_ref()
        if link is None:
            return
        wake = link._wake
        interval = SYNC_SECONDS if link.up else RETRY_SECONDS
        del link
        wake.wait(interval)
        wake.clear()
        link = link_ref()
        if link is None or link.closed:
            return
        if not link.up and time.monotonic() - last_try < RETRY_SECONDS:
            continue
        last_try = time.monotonic()
        link.sync_once()
        del link
