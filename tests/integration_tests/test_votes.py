"""A vote re-ranks at once: the next call picks another model, whichever process voted.

Selection keeps its ranked lists for a few seconds; these tests leave that cache as it
ships, so they show a vote reaching a process that has already ranked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openmux import ChatOpenMux
from openmux.quality import local_quality
from openmux.testing import FakeProviderServer
from tests.helpers import provider_config, provider_toml, run_cli

# Neither model is in the catalog and "dull" comes first in provider order: one down
# vote on "dull" is what puts "smart" first.
PROVIDERS = {"dull": dict(models=["echo-1"]), "smart": dict(models=["oracle-1"])}


@pytest.fixture
def llm(server: FakeProviderServer, clean_environment: Path) -> ChatOpenMux:
    config = (clean_environment / "openmux.toml").write_text
    config(provider_toml(*server.providers.values()), encoding="utf-8")
    return ChatOpenMux(config=provider_config(*server.providers.values()), task="chat")


def _answered_by(llm: ChatOpenMux, text: str) -> str:
    return str(llm.invoke(text).response_metadata["openmux"]["provider"])


def test_a_vote_in_this_process_changes_the_next_pick(llm: ChatOpenMux) -> None:
    first = llm.invoke("hello")
    assert first.response_metadata["openmux"]["provider"] == "dull"
    assert _answered_by(llm, "hello again") == "dull"  # the ranking is cached now
    llm.feedback(first, good=False)
    assert _answered_by(llm, "and now?") == "smart"


def test_a_vote_from_another_process_changes_the_next_pick(llm: ChatOpenMux) -> None:
    assert _answered_by(llm, "hello") == "dull"
    chat = run_cli("chat", "--json", "--task", "chat", "--no-stream", "hi", timeout=120)
    assert chat.returncode == 0, chat.stderr
    answer = json.loads(chat.stdout)
    assert answer["openmux"]["provider"] == "dull"
    voted = run_cli("vote", "down", answer["run_id"], timeout=120)
    assert voted.returncode == 0, voted.stderr
    assert _answered_by(llm, "and now?") == "smart"
    assert local_quality("chat", llm.settings.state_dir)[("dull", "echo-1")].down == 1
