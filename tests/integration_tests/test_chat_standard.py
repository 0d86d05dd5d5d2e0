"""LangChain's standard integration tests for ChatOpenMux, against loopback fake providers."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests

from openmux import ChatOpenMux
from openmux.testing import FakeProviderServer
from tests.helpers import provider_config

# The suite downloads its sample image with httpx.get: serve a local one (no internet).
from tests.integration_tests.test_fake_server_standard import _offline_samples  # noqa: F401

# gpt-4o-mini: a vision-capable id (the catalog says so), so image inputs have a model to go to.
PROVIDERS = {
    "fake": dict(models=["m-1", "m-2", "gpt-4o-mini"]),
}


class TestChatOpenMuxIntegration(ChatModelIntegrationTests):
    @pytest.fixture(autouse=True)
    def _point_at(self, server: FakeProviderServer) -> None:
        self._config = provider_config(server.providers["fake"])
        # A recording with a question is transcribed by this model, then answered as text.
        self._config["providers"]["fake"]["transcription_models"] = ["whisper-1"]

    @property
    def chat_model_class(self) -> type[ChatOpenMux]:
        return ChatOpenMux

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"config": self._config}

    @property
    def model_override_value(self) -> str:
        return "m-2"

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def supports_image_inputs(self) -> bool:
        # Images route only to vision-capable models: here the fake's gpt-4o-mini.
        return True

    @property
    def supports_image_tool_message(self) -> bool:
        return True

    @property
    def supports_audio_inputs(self) -> bool:
        # "Describe this audio:" + a recording: transcribed, then answered by a chat model.
        return True

    @property
    def returns_usage_metadata(self) -> bool:
        return True
