"""LangChain's standard unit tests for ChatOpenMux (no network involved)."""

from __future__ import annotations

from typing import Any

from langchain_tests.unit_tests import ChatModelUnitTests

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
