"""LangChain's standard unit tests for the local chat and embedding models.

These construct the models only; nothing is loaded, so they run without the
local extra. Two standard tests skip by design: `test_init_from_env` (the local
model reads no keys or settings from the environment) and `test_serdes` (the
model is not marked serialisable: it names a file on this machine).
"""

from __future__ import annotations

from typing import Any

from langchain_tests.unit_tests import ChatModelUnitTests, EmbeddingsUnitTests

from openmux.local import ChatLocalGGUF, LocalEmbeddings


class TestChatLocalGGUFUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatLocalGGUF]:
        return ChatLocalGGUF

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"temperature": 0, "n_ctx": 2048}

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return True  # JSON schema / JSON mode through llama.cpp grammars

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def supports_model_override(self) -> bool:
        # A local model is a file chosen with model_path when the model is built.
        return False


class TestLocalEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[LocalEmbeddings]:
        return LocalEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {}
