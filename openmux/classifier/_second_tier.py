"""The optional second tier: when the classifier is unsure, a chat model labels the request.

Off by default (`[classifier] second_tier = true` turns it on). The router asks it
only below `[classifier] threshold`, only online, and only for requests without
image or audio content (those decide the label themselves). The question goes through
the router as an ordinary chat request, so it fails over like any other; if it
fails, or the reply names no label, the first tier's answer stands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from openmux.classifier._input import to_request
from openmux.classifier._types import TaskClassification, TaskType

# The task taxonomy, condensed: the labels' definitions and the borderline rules.
_INSTRUCTIONS = """\
Label the user's request with the one artifact they want back. Labels:
chat: natural-language text (answers, explanations, advice, maths, writing, summaries, \
translations of text, small talk);
code: source code or help about code, shell commands, SQL, regexes, config files, \
questions about programming languages, libraries and APIs;
tts: spoken audio made from text they give (read aloud, narrate, voice-over);
audio: other audio work (transcribe a recording, identify a song, denoise, \
generate music or sound effects);
embeddings: vectors or similarity scores (embed texts, semantic similarity, cluster or \
deduplicate texts by meaning);
image: images made or read (generate, draw, edit; describe, caption or OCR a picture);
other: video, 3D, or anything none of the above can serve.
Rules: code that produces another artifact is code; talking about a medium is chat; \
maths without a program is chat; any language is possible.
Reply with the label only, one word."""
_MAX_CHARS = 2000
_LABEL = re.compile(r"\b(chat|code|tts|audio|embeddings|image|other)\b")


@dataclass(frozen=True)
class SecondTier:
    """When to ask (`[classifier] second_tier`, `threshold`), whom (`model`), and what the
    answer makes of the first tier's label."""

    enabled: bool
    threshold: float
    model: str | None = None

    def wanted(self, first: TaskClassification, messages: Any) -> bool:
        if not self.enabled or first.confidence >= self.threshold:
            return False
        request = to_request(messages)
        return bool(request.text.strip()) and not (request.images or request.audios)

    def decide(
        self, first: TaskClassification, reply: str | None, answered_by: str
    ) -> TaskClassification:
        """The label after the second tier's `reply` (None: it could not be asked).

        A label the model vouches for gets the threshold as its confidence: the bar the
        first tier missed. When the model agrees, the first tier's own figure stays if
        higher.
        """
        found = _LABEL.search(reply.casefold()) if reply else None
        if found is None:
            why = "unavailable" if reply is None else f"gave no label ({reply[:40]!r})"
            return _with_reason(first, f"{first.reason}; second tier {why}")
        label = TaskType(found.group(1))
        if label is first.task:
            return TaskClassification(
                label,
                max(first.confidence, self.threshold),
                first.secondary,
                f"{first.reason}; {answered_by} agrees",
            )
        return TaskClassification(
            label,
            self.threshold,
            [t for t in first.secondary if t is not label],
            f"{answered_by} says {label.value} (first tier: {first.task.value} at "
            f"{first.confidence:.2f}, {first.reason})",
        )


def question(messages: Any) -> list[BaseMessage]:
    """The chat request that asks a model for the label of `messages` (last user turn)."""
    text = to_request(messages).text
    if len(text) > _MAX_CHARS:
        text = text[: _MAX_CHARS // 2] + "\n[...]\n" + text[-_MAX_CHARS // 2 :]
    return [SystemMessage(_INSTRUCTIONS), HumanMessage(f"Request:\n<<<\n{text}\n>>>")]


def _with_reason(first: TaskClassification, reason: str) -> TaskClassification:
    return TaskClassification(first.task, first.confidence, first.secondary, reason)
