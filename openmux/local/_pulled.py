"""GGUF models pulled from the Hugging Face Hub on request (`openmux pull REPO/FILE.gguf`).

Nothing here runs unasked: the only download is the one the user requested.
Pulled files live in the user cache dir, listed in a small registry file, and
serve as models of the `local` provider (`model="local:REPO/FILE.gguf"`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from openmux.errors import ConfigError, OpenMuxError

REGISTRY = "registry.json"
CACHE_SECONDS = 30.0

_in_process: tuple[float, list[str]] | None = None


@dataclass(frozen=True)
class PulledModel:
    id: str
    """`OWNER/REPO/FILE.gguf`, as given to `openmux pull`."""
    path: str
    size: int
    pulled_at: float


def models_dir() -> Path:
    explicit = os.environ.get("OPENMUX_MODELS_DIR")
    if explicit:
        return Path(explicit).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("openmux", appauthor=False)) / "models"


def parse_spec(spec: str) -> tuple[str, str]:
    """`OWNER/REPO/FILE.gguf` → (repo id, file name within the repo)."""
    parts = spec.strip().strip("/").split("/")
    if len(parts) < 3 or not parts[-1].lower().endswith(".gguf"):
        raise ConfigError(
            f"cannot pull {spec!r}: expected OWNER/REPO/FILE.gguf",
            source="openmux pull",
            fix="e.g. openmux pull OWNER/SOME-MODEL-GGUF/some-model-Q4_K_M.gguf",
        )
    return "/".join(parts[:2]), "/".join(parts[2:])


def pulled_models() -> list[PulledModel]:
    registry = models_dir() / REGISTRY
    try:
        entries = json.loads(registry.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    found = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            model = PulledModel(**entry)
        except TypeError:
            continue
        if Path(model.path).is_file():
            found.append(model)
    return found


def _register(model: PulledModel) -> None:
    global _in_process
    _in_process = None  # a pull in this process is a model to offer at once
    folder = models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    others = [m for m in pulled_models() if m.id != model.id]
    temporary = folder / f".{REGISTRY}.tmp"
    temporary.write_text(
        json.dumps([asdict(m) for m in [*others, model]], indent=2), encoding="utf-8"
    )
    temporary.replace(folder / REGISTRY)


def hub_download(
    repo_id: str,
    filename: str,
    folder: Path,
    *,
    what: str,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    extra: str = "local",
) -> str:
    """One file of a hub repository into `folder` (with a progress bar); its path.

    `HF_ENDPOINT` and `HF_TOKEN` apply when not given; failures are one `OpenMuxError`
    naming `what` was being pulled."""
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError, HFValidationError
    except ImportError as exc:
        raise OpenMuxError(
            f'openmux pull needs huggingface_hub: pip install "openmux[{extra}]"'
        ) from exc
    endpoint = endpoint or os.environ.get("HF_ENDPOINT")
    if endpoint and not endpoint.lower().startswith(("http://", "https://")):
        raise OpenMuxError(
            f"could not pull {what}: the hub endpoint {endpoint!r} is not an http:// or "
            "https:// URL"
        )
    try:
        return str(
            hf_hub_download(
                repo_id,
                filename,
                revision=revision,
                local_dir=folder,
                endpoint=endpoint,
                token=token or os.environ.get("HF_TOKEN") or False,
            )
        )
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise OpenMuxError(
            f"could not pull {what}: the hub answered HTTP {status} for {repo_id}/{filename};"
            " check the repository and file name (and HF_TOKEN for gated models)"
        ) from exc
    except HFValidationError as exc:  # a repository id the hub cannot have
        raise OpenMuxError(f"could not pull {what}: {exc}") from exc
    except _transport_errors() as exc:  # cut mid-way, or stalled, past the hub's own retries
        raise OpenMuxError(
            f"could not pull {what}: the download broke off ({exc}); try again"
        ) from exc
    except OSError as exc:
        raise OpenMuxError(f"could not pull {what}: {exc}") from exc


def _transport_errors() -> tuple[type[BaseException], ...]:
    """The errors of whichever httpx the hub client speaks (httpx, or its fork httpx2):
    it lets them through when a download breaks off."""
    modules = (sys.modules.get(name) for name in ("httpx", "httpx2"))
    return tuple(module.HTTPError for module in modules if module is not None)


def pull(spec: str, *, endpoint: str | None = None, token: str | None = None) -> PulledModel:
    """Download one GGUF file (with a progress bar) and register it."""
    repo_id, filename = parse_spec(spec)
    target = models_dir() / repo_id.replace("/", "--")
    path = hub_download(repo_id, filename, target, what=spec, endpoint=endpoint, token=token)
    with open(path, "rb") as handle:
        if handle.read(4) != b"GGUF":
            raise OpenMuxError(f"{spec} is not a GGUF file (no GGUF magic number)")
    model = PulledModel(f"{repo_id}/{filename}", str(path), Path(path).stat().st_size, time.time())
    with recording(spec, path):
        _register(model)
    return model


@contextmanager
def recording(what: str, where: str | Path) -> Iterator[None]:
    """Around writing down a finished download: a disk it just filled fails that as one
    line saying where the files are, not a traceback."""
    try:
        yield
    except OSError as exc:
        raise OpenMuxError(
            f"could not pull {what}: downloaded to {where}, but not recorded: {exc}"
        ) from exc


def model_path(model_id: str) -> str:
    """The file of a pulled model, or `model_id` itself when it names a GGUF file."""
    for model in pulled_models():
        if model.id == model_id:
            return model.path
    if model_id.lower().endswith(".gguf") and Path(model_id).expanduser().is_file():
        return str(Path(model_id).expanduser())
    from openmux.local._bundled import LocalModelUnavailable

    raise LocalModelUnavailable(
        f"no local model {model_id!r}", hint="openmux pull OWNER/REPO/FILE.gguf, or a .gguf path"
    )


def in_process_models() -> list[str]:
    """The chat models the `local` provider can run now: the bundled one and pulled ones.

    Asked on every request, so the answer (package lookups and the registry file, about
    half a millisecond) is kept for CACHE_SECONDS, as local servers' answers are.
    """
    global _in_process
    now = time.monotonic()
    if _in_process is not None and now - _in_process[0] < CACHE_SECONDS:
        return list(_in_process[1])
    from openmux.local._bundled import (
        BUNDLED_CHAT_MODEL_ID,
        chat_runtime_available,
        local_chat_available,
    )

    models: list[str] = []
    if chat_runtime_available():
        bundled = [BUNDLED_CHAT_MODEL_ID] if local_chat_available() else []
        models = bundled + [m.id for m in pulled_models()]
    _in_process = (now, models)
    return list(models)
