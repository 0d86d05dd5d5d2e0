"""LlamaIndex over the bundled local models, run for real: no key, no network."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("llama_index.core", reason='needs: pip install "openmux[llama-index]"')

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.tools import FunctionTool

from openmux import NoProviderAvailable
from openmux.integrations.llama_index import OpenMuxEmbedding, OpenMuxLLM
from openmux.local import BUNDLED_CHAT_MODEL_ID, local_chat_available, local_embeddings_available

pytestmark = pytest.mark.skipif(
    not (local_chat_available() and local_embeddings_available()),
    reason='the local extra is not installed (pip install ".[local]")',
)

DOCUMENTS = [
    "The bakery on Elm Street sells sourdough bread and croissants every morning.",
    "The city library opens at nine and closes at six on weekdays.",
    "The harbour ferry to the island leaves every forty minutes.",
]


def test_index_and_query_engine_on_the_local_models() -> None:
    index = VectorStoreIndex.from_documents(
        [Document(text=text) for text in DOCUMENTS], embed_model=OpenMuxEmbedding(offline=True)
    )
    llm = OpenMuxLLM(offline=True, max_tokens=48, temperature=0)
    response = index.as_query_engine(llm=llm, similarity_top_k=1).query(
        "What kind of bread can I buy at the bakery?"
    )
    assert [n.node.get_content() for n in response.source_nodes] == [DOCUMENTS[0]]
    assert str(response).strip()
    routing = llm.chat_model.invoke("Say hi", max_tokens=8).response_metadata["openmux"]
    assert (routing["provider"], routing["model"]) == ("local", BUNDLED_CHAT_MODEL_ID)


def test_an_agent_needs_a_tool_calling_model_and_says_so() -> None:
    """The bundled model has no tool calling: the router refuses with every reason."""

    def add(a: int, b: int) -> int:
        """Add two whole numbers."""
        return a + b

    async def run_agent() -> object:
        agent = FunctionAgent(
            tools=[FunctionTool.from_defaults(add)], llm=OpenMuxLLM(offline=True, max_tokens=32)
        )
        return await agent.run("What is 2 plus 3?")

    with pytest.raises(NoProviderAvailable):
        asyncio.run(run_agent())
