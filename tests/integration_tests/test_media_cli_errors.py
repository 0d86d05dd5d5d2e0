"""The media verbs and their neighbours from a shell, given bad arguments: one clear line on
stderr, a non-zero exit, no traceback, and no provider asked for the user's own mistake."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from openmux.testing import FakeProvider, FakeProviderServer
from tests.helpers import provider_toml, run_cli


@pytest.fixture
def provider(clean_environment: Path, fake_provider_server: FakeProviderServer) -> FakeProvider:
    fake = fake_provider_server.add_provider("fake", models=["chat-1"], reply="hello")
    # Appended to the provider's table: the media models the fake serves.
    media = 'free = true\nimage_models = ["img-1"]\nspeech_models = ["tts-1"]\n'
    media += 'transcription_models = ["whisper-1"]\n\n[timeouts]\nfirst_token = 5\ntotal = 5\n'
    (clean_environment / "openmux.toml").write_text(provider_toml(fake) + media, encoding="utf-8")
    return fake


def _refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_an_output_path_that_cannot_be_written_is_refused_before_asking(
    provider: FakeProvider, clean_environment: Path
) -> None:
    (clean_environment / "folder").mkdir()
    for args in (
        ("image", "a red fox", "-o", "folder"),
        ("image", "a red fox", "-o", "missing/fox.png"),
        ("speak", "hello", "-o", "folder"),
        ("speak", "hello", "-o", "hello.ogg"),  # speech comes as wav or mp3
    ):
        _refused(run_cli(*args, timeout=120), args[-1])
    assert provider.requests == []


def test_compare_refuses_what_asks_no_model(provider: FakeProvider) -> None:
    for args, words in (
        (("-n", "0"), ("-n", "at least 1")),
        (("--models", ","), ("--models", "no model")),
        (("--task", "bogus"), ("'bogus' is not a task",)),
    ):
        result = run_cli("compare", *args, "hello", timeout=120)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        for word in words:
            assert word in result.stderr, result.stderr
    assert provider.requests == []


def test_a_recording_that_cannot_be_read_is_named(
    provider: FakeProvider, clean_environment: Path
) -> None:
    unreadable = Path("/proc/self/mem")  # a file whose read fails, even for root
    if not unreadable.is_file():
        pytest.skip("needs Linux's /proc")
    _refused(run_cli("transcribe", str(unreadable), timeout=120), str(unreadable))
    assert provider.requests == []


def test_stats_names_a_plot_file_it_cannot_write(clean_environment: Path) -> None:
    (clean_environment / "chart.svg").mkdir()
    for target in ("missing/usage.svg", "chart.svg"):
        result = run_cli("stats", "--plot", target, timeout=120)
        _refused(result, target)
        assert result.stdout == ""


def test_transcribe_refuses_a_text_file(provider: FakeProvider, clean_environment: Path) -> None:
    (clean_environment / "notes.wav").write_text("Meeting notes: ship on Friday.\n")
    _refused(run_cli("transcribe", "notes.wav", timeout=120), "notes.wav", "not a recording")
    assert provider.requests == []


def test_bench_names_a_plot_file_it_cannot_write_before_asking(
    provider: FakeProvider, clean_environment: Path
) -> None:
    (clean_environment / "chart.svg").mkdir()
    for target in ("missing/bench.svg", "chart.svg"):
        _refused(run_cli("bench", "--limit", "1", "--plot", target, timeout=120), target)
    assert provider.requests == []  # every question on every model, then lost to a traceback


def _locked_folder(clean_environment: Path) -> Path:
    folder = clean_environment / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    if os.access(folder, os.W_OK):  # root writes anywhere its mode says no, but not here
        folder = Path("/proc/self")
    return folder


def test_a_folder_that_cannot_be_written_is_refused_before_asking(
    provider: FakeProvider, clean_environment: Path
) -> None:
    locked = _locked_folder(clean_environment)
    for args in (
        ("image", "a red fox", "-o", f"{locked}/fox.png"),
        ("speak", "hello", "-o", f"{locked}/hello.wav"),
        ("stats", "--plot", f"{locked}/usage.svg"),
    ):
        _refused(run_cli(*args, timeout=120), args[-1], "not writable")
    assert provider.requests == []


def test_an_image_that_cannot_be_saved_where_asked_is_kept_elsewhere(
    provider: FakeProvider, clean_environment: Path, tmp_path: Path
) -> None:
    # /proc looks writable, so only the write itself finds out (as with a full disk).
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    result = run_cli("image", "a red fox", "-o", "/proc/fox.png", env=env, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [kept] = tmp_path.glob("openmux-image-*.png")
    assert kept.read_bytes()[:4] == b"\x89PNG"
    assert str(kept) in result.stderr and "/proc/fox.png" in result.stderr
