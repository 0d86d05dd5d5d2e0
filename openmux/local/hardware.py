"""What this machine can give an in-process model: cores, memory, a GPU.

Everything here is cheap (no model runtime is imported) and pure: the
`recommended_*` helpers take the measured facts as arguments so they can be
tested without the hardware they describe.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "HardwareInfo",
    "detect_hardware",
    "kv_cache_bytes_per_token",
    "recommended_n_ctx",
    "recommended_n_threads",
]

_GIB = 1024**3


@dataclass(frozen=True)
class HardwareInfo:
    """A snapshot of the resources an in-process model may use."""

    logical_cores: int
    physical_cores: int
    usable_cores: int  # cores this process may run on (affinity / cgroup quota)
    total_ram_bytes: int
    available_ram_bytes: int
    gpu: str | None  # "cuda", "rocm", "metal" or None; presence only, not usability
    load_average: float = 0.0  # runnable processes over the last minute (0 if unknown)

    @property
    def available_ram_gib(self) -> float:
        return self.available_ram_bytes / _GIB


def _cgroup_cpu_limit() -> float | None:
    """CPU quota of a cgroup v2 container (`cpu.max`), if one is set."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1.0, int(quota) / int(period))
    except (ValueError, ZeroDivisionError):
        return None


def _usable_cores(logical: int) -> int:
    usable = logical
    if hasattr(os, "sched_getaffinity"):
        with contextlib.suppress(OSError):
            usable = min(usable, len(os.sched_getaffinity(0)))
    limit = _cgroup_cpu_limit()
    if limit is not None:
        usable = min(usable, int(limit))
    return max(1, usable)


def _detect_gpu() -> str | None:
    """Cheap presence checks: device nodes and vendor tools, never a driver call."""
    system = platform.system()
    if system == "Darwin" and platform.machine() in ("arm64", "aarch64"):
        return "metal"
    if system == "Linux":
        if Path("/dev/nvidia0").exists() or Path("/proc/driver/nvidia/version").exists():
            return "cuda"
        if Path("/dev/kfd").exists():
            return "rocm"
    if shutil.which("nvidia-smi"):
        return "cuda"
    return None


def detect_hardware() -> HardwareInfo:
    """Measure this machine now (psutil when present, else os); about a millisecond."""
    logical = os.cpu_count() or 1
    physical: int | None = None
    total = available = 0
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
        memory = psutil.virtual_memory()
        total, available = int(memory.total), int(memory.available)
    except Exception:  # psutil missing or unsupported platform: fall back below
        pass
    if not total and hasattr(os, "sysconf"):
        try:
            pages = os.sysconf("SC_PHYS_PAGES")
            size = os.sysconf("SC_PAGE_SIZE")
            total = available = int(pages * size)
        except (ValueError, OSError):
            pass
    usable = _usable_cores(logical)
    load = 0.0
    if hasattr(os, "getloadavg"):
        with contextlib.suppress(OSError):
            load = float(os.getloadavg()[0])
    return HardwareInfo(
        logical_cores=logical,
        physical_cores=max(1, physical or logical),
        usable_cores=usable,
        total_ram_bytes=total,
        available_ram_bytes=available,
        gpu=_detect_gpu(),
        load_average=load,
    )


def recommended_n_threads(info: HardwareInfo | None = None, *, cap: int = 8) -> int:
    """Threads for llama.cpp: one per physical core this process may use and find idle.

    Hyper-threads slow llama.cpp's matrix kernels down, and a small model stops
    gaining past a handful of threads, hence `cap`. llama.cpp's threads meet at
    a barrier several times per token, so a thread whose core is busy with
    another process stalls all the others: on a loaded machine (load average
    above the core count) fewer threads are faster, measured 4x on 2 cores.
    """
    info = info if info is not None else detect_hardware()
    cores = min(info.physical_cores, info.usable_cores, cap)
    idle = int(info.usable_cores - info.load_average + 0.5)
    return max(1, min(cores, idle))


def kv_cache_bytes_per_token(meta: Mapping[str, Any], *, value_bytes: int) -> int | None:
    """K and V cache bytes per token of context, from a GGUF model's shape."""
    arch = meta.get("general.architecture")
    try:
        layers = int(meta[f"{arch}.block_count"])
        embd = int(meta[f"{arch}.embedding_length"])
        heads = int(meta[f"{arch}.attention.head_count"])
        kv_heads = int(meta.get(f"{arch}.attention.head_count_kv", heads))
    except (KeyError, TypeError, ValueError):
        return None
    return 2 * layers * (embd // heads) * kv_heads * value_bytes


def recommended_n_ctx(
    info: HardwareInfo | None = None,
    *,
    train_ctx: int | None = None,
    kv_bytes_per_token: int | None = None,
) -> int:
    """A context window that fits in available memory and the model's training.

    With `kv_bytes_per_token` (from the model's shape) the KV cache is kept
    under an eighth of the available memory; without it, memory tiers decide.
    Never more than the window the model was trained on.
    """
    info = info or detect_hardware()
    available = info.available_ram_bytes or 2 * _GIB
    if kv_bytes_per_token:
        n_ctx = int(available / 8 / kv_bytes_per_token)
    elif available >= 8 * _GIB:
        n_ctx = 8192
    elif available >= 2 * _GIB:
        n_ctx = 4096
    elif available >= 1 * _GIB:
        n_ctx = 2048
    else:
        n_ctx = 1024
    n_ctx = min(n_ctx, 8192)  # prompt processing on CPU makes longer windows moot
    n_ctx = max(512, n_ctx - n_ctx % 256)
    if train_ctx:
        n_ctx = min(n_ctx, train_ctx)
    return n_ctx
