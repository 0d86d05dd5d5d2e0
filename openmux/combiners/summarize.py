"""`summarize` and `local-summarize`: one model merges the answers into one.

The aggregation prompt follows mixture-of-agents (Wang et al., 2024,
"Mixture-of-Agents Enhances Large Language Model Capabilities"): the merging
model gets the numbered answers in its system prompt, then the original
conversation, and writes one refined answer. The merge streams.

`summarize` merges with `judge=` (default: the top candidate for the task);
`local-summarize` merges with a model on this machine (the bundled `local`
provider first, else a local server such as Ollama), so the answers go to no
further network service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, SystemMessage

from openmux.combiners._base import CombineJob, Combiner, pick

AGGREGATE_PROMPT = (
    "You have been given a set of responses from several AI models to the latest user "
    "request. Synthesize them into a single, high-quality response. Critically evaluate "
    "the information in these responses: some of it may be biased or incorrect. Do not "
    "simply copy one response; give a refined, accurate and complete reply to the request, "
    "well structured and coherent. Do not mention the responses or the models.\n\n"
    "Responses from models:"
)


def aggregate_messages(job: CombineJob) -> list[BaseMessage]:
    answers = "\n\n".join(
        f"{number}. {answer.text}" for number, answer in enumerate(job.answers, 1)
    )
    system = f"{AGGREGATE_PROMPT}\n\n{answers}"
    rest = list(job.messages)
    # One system message first: some providers refuse a second one.
    if rest and rest[0].type == "system":
        system = f"{rest[0].text}\n\n{system}"
        rest = rest[1:]
    return [SystemMessage(system), *rest]


class Summarize(Combiner):
    name = "summarize"

    def _single(self, job: CombineJob) -> AIMessage | None:
        if len(job.answers) > 1:
            return None
        job.info.update({"answers": 1, "reason": "one answer: nothing to merge, returned as is"})
        return pick(job.answers[0], job)

    def _note(self, job: CombineJob) -> None:
        count = len(job.answers)
        where = "a local model" if self.local_only else "one model"
        job.info.update({"answers": count, "reason": f"{count} answers merged into one by {where}"})

    def combine(self, job: CombineJob) -> AIMessage:
        single = self._single(job)
        if single is not None:
            return single
        self._note(job)
        return job.calls.invoke(
            aggregate_messages(job),
            model=job.judge,
            local_only=self.local_only,
            call_kwargs=job.call_kwargs,
        )

    async def acombine(self, job: CombineJob) -> AIMessage:
        single = self._single(job)
        if single is not None:
            return single
        self._note(job)
        return await job.calls.ainvoke(
            aggregate_messages(job),
            model=job.judge,
            local_only=self.local_only,
            call_kwargs=job.call_kwargs,
        )

    def stream(self, job: CombineJob) -> Iterator[AIMessageChunk]:
        if len(job.answers) == 1:
            yield from super().stream(job)
            return
        self._note(job)
        yield from job.calls.stream(
            aggregate_messages(job),
            model=job.judge,
            local_only=self.local_only,
            call_kwargs=job.call_kwargs,
        )

    async def astream(self, job: CombineJob) -> AsyncIterator[AIMessageChunk]:
        if len(job.answers) == 1:
            async for chunk in super().astream(job):
                yield chunk
            return
        self._note(job)
        chunks = job.calls.astream(
            aggregate_messages(job),
            model=job.judge,
            local_only=self.local_only,
            call_kwargs=job.call_kwargs,
        )
        async for chunk in chunks:
            yield chunk


class LocalSummarize(Summarize):
    name = "local-summarize"
    local_only = True
