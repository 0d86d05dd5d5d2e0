"""`concat`: every answer, labelled by the model that gave it."""

from __future__ import annotations

from langchain_core.messages import AIMessage

from openmux.combiners._base import CombineJob, Combiner


def labelled(job: CombineJob) -> str:
    return "\n\n".join(f"[{answer.label}]\n{answer.text}" for answer in job.answers)


class Concat(Combiner):
    name = "concat"

    def combine(self, job: CombineJob) -> AIMessage:
        count = len(job.answers)
        job.info.update(
            {
                "answers": count,
                "reason": f"all {count} answer{'s' if count != 1 else ''}, labelled by model",
            }
        )
        return AIMessage(content=labelled(job))
