"""Hardware detection and the thread / context choices made from it."""

from __future__ import annotations

from openmux.local.hardware import (
    HardwareInfo,
    detect_hardware,
    recommended_n_ctx,
    recommended_n_threads,
)

_GIB = 1024**3


def _info(
    *, physical: int = 4, usable: int = 8, available_gib: float = 16, load: float = 0.0
) -> HardwareInfo:
    return HardwareInfo(
        logical_cores=8,
        physical_cores=physical,
        usable_cores=usable,
        total_ram_bytes=32 * _GIB,
        available_ram_bytes=int(available_gib * _GIB),
        gpu=None,
        load_average=load,
    )


def test_detect_hardware_reports_this_machine() -> None:
    info = detect_hardware()
    assert info.logical_cores >= 1
    assert 1 <= info.physical_cores <= info.logical_cores
    assert 1 <= info.usable_cores <= info.logical_cores
    assert info.total_ram_bytes > 0
    assert 0 < info.available_ram_bytes <= info.total_ram_bytes
    assert info.gpu in (None, "cuda", "rocm", "metal")


def test_threads_follow_physical_cores_not_hyperthreads() -> None:
    assert recommended_n_threads(_info(physical=4, usable=8)) == 4


def test_threads_respect_affinity_and_cap() -> None:
    assert recommended_n_threads(_info(physical=4, usable=2)) == 2
    assert recommended_n_threads(_info(physical=64, usable=64)) == 8
    assert recommended_n_threads(_info(physical=1, usable=1)) == 1


def test_threads_back_off_when_other_processes_hold_the_cores() -> None:
    # 2 cores, both busy with other work: one thread avoids stalls at llama.cpp's barriers
    assert recommended_n_threads(_info(physical=2, usable=2, load=2.0)) == 1
    assert recommended_n_threads(_info(physical=2, usable=2, load=5.0)) == 1
    assert recommended_n_threads(_info(physical=2, usable=2, load=0.3)) == 2
    # 8 logical / 4 physical: load on the spare hyper-threads costs nothing
    assert recommended_n_threads(_info(physical=4, usable=8, load=3.0)) == 4
    assert recommended_n_threads(_info(physical=4, usable=8, load=6.0)) == 2


def test_context_follows_memory_tiers() -> None:
    assert recommended_n_ctx(_info(available_gib=16)) == 8192
    assert recommended_n_ctx(_info(available_gib=4)) == 4096
    assert recommended_n_ctx(_info(available_gib=1.5)) == 2048
    assert recommended_n_ctx(_info(available_gib=0.5)) == 1024


def test_context_never_exceeds_training_window() -> None:
    assert recommended_n_ctx(_info(available_gib=16), train_ctx=2048) == 2048
    assert recommended_n_ctx(_info(available_gib=16), train_ctx=300) == 300


def test_context_from_kv_cache_size() -> None:
    # 1 MiB of KV cache per token with 1 GiB free: an eighth of it is 128 tokens,
    # below the floor of 512.
    assert recommended_n_ctx(_info(available_gib=1), kv_bytes_per_token=1024**2) == 512
    # A small KV cache with plenty of memory stops at the 8192 ceiling.
    assert recommended_n_ctx(_info(available_gib=16), kv_bytes_per_token=20_000) == 8192
