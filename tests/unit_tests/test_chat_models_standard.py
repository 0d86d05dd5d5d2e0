"""LangChain's standard unit tests for ChatOpenMux (no network involved)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_tests.unit_tests import ChatModelUnitTests
from syrupy.assertion import SnapshotAssertion

from openmux import ChatOpenMux

_CONFIG = {
    "router": {"providers": ["fake"]},
    "providers": {
        "fake": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1", "models": ["m-1"]}
    },
}


class TestChatOpenMuxUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatOpenMux]:
        return ChatOpenMux

    @property
    def standard_chat_model_params(self) -> dict[str, Any]:
        # One model, many providers: keys are given per provider (`api_keys={...}`), and an
        # argument ChatOpenMux does not take raises rather than being dropped.
        params = dict(super().standard_chat_model_params)
        del params["api_key"]
        return params

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"config": _CONFIG, "model": "m-1", "temperature": 0}

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        # Keys are read from the environment per provider, never stored as fields.
        return {}, {}, {}

    @pytest.mark.xfail(
        reason="langchain-tests loads with allowed_objects='all', which admits only the classes "
        "in langchain-core's own mapping; ChatOpenMux loads when named in allowed_objects "
        "(tests/integration_tests/test_langchain_citizen.py)",
        raises=ValueError,
        strict=True,
    )
    def test_serdes(self, model: BaseChatModel, snapshot: SnapshotAssertion) -> None:
        super().test_serdes(model, snapshot)
