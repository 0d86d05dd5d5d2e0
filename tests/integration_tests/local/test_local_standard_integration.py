"""LangChain's standard integration suite, run against the real bundled chat model.

Run once per runtime (numpy, and llama.cpp where installed). Capability flags
are the honest ones: the local chat model reads text only (no image, audio or
PDF input), so the suite skips those tests and says why. Tool calling runs:
where the suite checks a call it forces one with tool_choice="any", so it
checks calls, not a 135M model's judgement of when to make them. Structured
output and JSON mode work (llama.cpp grammars; on numpy, prompted JSON checked
against the schema), so those tests run. Per-call model override is off: only
one local model ships (a call's `model=` may name another .gguf file).
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests

from openmux.local import INSTALL_HINT, ChatLocalGGUF, local_chat_available

if not local_chat_available():
    pytest.skip(f"the bundled chat model is not installed: {INSTALL_HINT}", allow_module_level=True)

pytestmark = pytest.mark.usefixtures("local_runtime")


class TestChatLocalGGUFIntegration(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatLocalGGUF]:
        return ChatLocalGGUF

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"temperature": 0, "max_tokens": 64}

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True  # a llama.cpp grammar, or on numpy prompted JSON checked against the schema

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def supports_model_override(self) -> bool:
        # Only one local model ships; per-call `model=` takes the path of another .gguf.
        return False
