"""`openmux models --task T`: only models that serve the task, readable when piped."""

from __future__ import annotations

import json
from typing import Any

import pytest

from openmux.config import LOCAL_EMBEDDING_MODEL_ID
from openmux.local import local_embeddings_available
from tests.helpers import run_cli


def _rows(*args: str) -> list[dict[str, Any]]:
    result = run_cli("models", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_embeddings_lists_embedding_models_only() -> None:
    rows = _rows("--task", "embeddings")
    assert rows
    assert all(row["capabilities"] == ["embeddings"] for row in rows)
    local = [row for row in rows if row["provider"] == "local"]
    assert [row["model"] for row in local] == [LOCAL_EMBEDDING_MODEL_ID]
    expected = "ready" if local_embeddings_available() else "not installed"
    assert local[0]["status"] == expected
    assert all(row["score"] is None for row in rows)  # no chat benchmark ranks them


def test_image_lists_models_that_read_images() -> None:
    rows = _rows("--task", "image")
    assert rows
    assert all("vision" in row["capabilities"] for row in rows)


@pytest.mark.parametrize("task", ["tts", "audio", "other"])
def test_a_task_nothing_serves_says_so_in_one_line(task: str) -> None:
    result = run_cli("models", "--task", task)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        next(line for line in result.stdout.splitlines() if line.startswith("No configured"))
    ]
    assert f"serves {task}:" in result.stdout
    assert _rows("--task", task) == []


def test_piped_output_keeps_one_model_per_line() -> None:
    rows = _rows("--task", "chat")
    result = run_cli("models", "--task", "chat")  # stdout is a pipe, as in `| less`
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["#", "provider:model"]
    assert len(lines) == len(rows) + 1
    for row, line in zip(rows, lines[1:], strict=True):
        assert line.split()[:2] == [str(row["rank"]), f"{row['provider']}:{row['model']}"]
