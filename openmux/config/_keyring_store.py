"""The OS keyring as a key store (service ``openmux``, user = provider id).

Keyring calls run with a timeout: a backend that hangs (a locked desktop
keyring, a D-Bus without its service) is skipped for the rest of the process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from openmux._logging import get_logger
from openmux.config._secret_text import SecretsError

SERVICE = "openmux"
KEYRING_TIMEOUT = 3.0
SOURCE_KEYRING = "keyring"

_log = get_logger("openmux.secrets")
_lock = threading.RLock()
_T = TypeVar("_T")


@dataclass(frozen=True)
class KeyringStatus:
    usable: bool
    backend: str
    reason: str = ""

    @property
    def insecure(self) -> bool:
        """A backend that keeps keys in clear text (keyrings.alt's PlaintextKeyring)."""
        return "plaintext" in self.backend.lower()


_keyring_state: dict[str, Any] = {}  # "status": KeyringStatus, "backend": object


def run_with_timeout(fn: Callable[[], _T], timeout: float) -> _T:
    """Run `fn` in a daemon thread; TimeoutError if it does not return in time."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="openmux-keyring", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"the keyring did not answer within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def backend_env() -> str:
    return os.environ.get("PYTHON_KEYRING_BACKEND", "")


def _load_backend() -> tuple[Any, KeyringStatus]:
    import keyring.core
    from keyring.backends import chainer, fail

    # Choose again (PYTHON_KEYRING_BACKEND or keyringrc may have changed since keyring chose).
    keyring.core.init_backend()
    backend = keyring.core.get_keyring()
    name = f"{type(backend).__module__}.{type(backend).__qualname__}"
    priority = getattr(backend, "priority", 1)
    if isinstance(backend, fail.Keyring) or type(backend).__module__.endswith(".null"):
        return None, KeyringStatus(False, name, "no keyring backend is available")
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None, KeyringStatus(False, name, "no keyring backend is available")
    if isinstance(priority, (int, float)) and priority <= 0 and not backend_env():
        return None, KeyringStatus(False, name, "the keyring backend is not usable here")
    return backend, KeyringStatus(True, name)


def _keyring_backend() -> tuple[Any, KeyringStatus]:
    """The keyring backend (cached per process and PYTHON_KEYRING_BACKEND value)."""
    with _lock:
        env = backend_env()
        if _keyring_state.get("env") == env and "status" in _keyring_state:
            return _keyring_state.get("backend"), _keyring_state["status"]
        try:
            backend, status = run_with_timeout(_load_backend, KEYRING_TIMEOUT)
        except TimeoutError as exc:
            backend, status = None, KeyringStatus(False, "unknown", str(exc))
        except Exception as exc:
            backend, status = None, KeyringStatus(False, "unknown", f"keyring failed: {exc}")
        if not status.usable:
            _log.debug("keyring not used: %s (%s)", status.reason, status.backend)
        _keyring_state.update(env=env, backend=backend, status=status)
        return backend, status


def keyring_status() -> KeyringStatus:
    return _keyring_backend()[1]


def forget_backend() -> None:
    with _lock:
        _keyring_state.clear()


def keyring_call(fn: Callable[[Any], _T]) -> _T:
    backend, status = _keyring_backend()
    if backend is None:
        raise SecretsError(f"the OS keyring is not usable: {status.reason}")
    try:
        return run_with_timeout(lambda: fn(backend), KEYRING_TIMEOUT)
    except TimeoutError as exc:
        with _lock:
            _keyring_state["backend"] = None
            _keyring_state["status"] = KeyringStatus(False, status.backend, str(exc))
        raise SecretsError(f"the OS keyring is not usable: {exc}") from exc
    except SecretsError:
        raise
    except Exception as exc:
        raise SecretsError(f"the OS keyring failed: {type(exc).__name__}: {exc}") from exc
