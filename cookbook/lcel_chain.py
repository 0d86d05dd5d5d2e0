"""An LCEL chain: prompt | ChatOpenMux | parser, invoked, streamed and batched."""

from __future__ import annotations

from contextlib import ExitStack

from _setup import options
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from openmux import ChatOpenMux


def main() -> None:
    with ExitStack() as stack:
        llm = ChatOpenMux(**options(stack))
        prompt = ChatPromptTemplate.from_messages(
            [("system", "You answer in one short sentence."), ("human", "Explain {topic}.")]
        )
        chain = prompt | llm | StrOutputParser()

        print(chain.invoke({"topic": "recursion"}))
        for piece in chain.stream({"topic": "a hash map"}):
            print(piece, end="", flush=True)
        print()
        for answer in chain.batch([{"topic": "TCP"}, {"topic": "UDP"}]):
            print("-", answer)

        message = (prompt | llm).invoke({"topic": "binary search"})
        info = message.response_metadata["openmux"]
        print(f"routed as {info['task']} to {info['provider']}:{info['model']} ({info['reason']})")


if __name__ == "__main__":
    main()
