"""Rule-based task classification: keyword cues per label, media blocks, conversation ties."""

from __future__ import annotations

import re
from typing import Any

from openmux.classifier._input import Request, to_request
from openmux.classifier._types import TaskClassification, TaskType

_CUES: dict[TaskType, list[str]] = {
    TaskType.CODE: [
        r"\b(python|javascript|typescript|java|rust|golang|c\+\+|c#|kotlin|swift|ruby|php|bash)\b",
        r"\b(function|class|method|script|regex|regular expression|sql|query|api|bug|debug)\b",
        r"\b(compile|stack ?trace|exception|segfault|refactor|unit tests?|dockerfile|yaml)\b",
        r"\b(git|npm|pip|json schema|endpoint|algorithm in|code|programm?ing|snippet)\b",
        r"```|\bdef |\bimport |#include|=>|\{\s*$",
    ],
    TaskType.TTS: [
        r"\b(read (this|it|that|the following)?\s*(aloud|out loud)|read aloud|narrat\w*)\b",
        r"\b(text[- ]to[- ]speech|tts|voice[- ]?over|speak this|say this out loud)\b",
        r"\b(audiobook|spoken (version|audio)|in a \w+ voice)\b",
    ],
    TaskType.AUDIO: [
        r"\b(transcri\w+|speech[- ]to[- ]text|podcast|recording|\.wav|\.mp3|\.m4a|\.flac)\b",
        r"\b(song|music|beat|melody|sound effects?|soundtrack|jingle|denoise|background noise)\b",
        r"\b(identify the (song|speaker)|separate the (vocals|tracks)|stems?)\b",
    ],
    TaskType.EMBEDDINGS: [
        r"\b(embed(ding)?s? (these|this|the following)|embedding vectors?|vectori[sz]e)\b",
        r"\b(cosine similarity|semantic(ally)? similar\w*|similarity score|vector (index|store))\b",
        r"\b(cluster (these|the)|deduplicate .* by meaning|nearest neighbou?rs?)\b",
    ],
    TaskType.IMAGE: [
        r"\b(draw|paint|sketch|illustrat\w+|render|upscale|logo|picture|photo\w*|image)\b",
        r"\b(generate an? (image|picture|illustration)|caption|screenshot|ocr|wallpaper)\b",
        r"\b(what'?s in this (photo|picture|image)|describe this (photo|picture|image))\b",
    ],
    TaskType.OTHER: [
        r"\b(video|clip|animation|3d (model|mesh)|mesh|\.mp4|movie)\b",
    ],
}
_COMPILED = {
    task: [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in pats]
    for task, pats in _CUES.items()
}
_ABOUT = re.compile(r"\b(what is|what are|explain|how do(es)?|poem|story|essay)\b", re.I)


def _score(text: str) -> dict[TaskType, list[str]]:
    hits: dict[TaskType, list[str]] = {}
    for task, pats in _COMPILED.items():
        for pat in pats:
            for m in pat.finditer(text):
                hits.setdefault(task, []).append(m.group(0).strip().lower())
    return hits


def _decide(req: Request) -> TaskClassification:
    hits = _score(req.text)
    if req.images and TaskType.CODE not in hits:
        return TaskClassification(TaskType.IMAGE, 0.9, [], "image content in the message")
    if req.audios:
        return TaskClassification(TaskType.AUDIO, 0.9, [], "audio content in the message")
    if not hits and len(req.text.split()) <= 6 and req.earlier:
        for prev in reversed(req.earlier):
            prev_hits = _score(prev)
            if prev_hits:
                hits = prev_hits
                break
    if not hits:
        return TaskClassification(TaskType.CHAT, 0.6, [], "no task cues: general chat")
    ranked = sorted(hits.items(), key=lambda kv: len(kv[1]), reverse=True)
    task, cues = ranked[0]
    if task is not TaskType.CODE and _ABOUT.search(req.text) and len(cues) < 2:
        return TaskClassification(TaskType.CHAT, 0.55, [], f"talks about {task.value}")
    secondary = [t for t, _ in ranked[1:2] if t is not task]
    quoted = ", ".join(f"'{c}'" for c in dict.fromkeys(cues[:3]))
    conf = min(0.95, 0.6 + 0.1 * len(cues))
    return TaskClassification(task, conf, secondary, f"{task.value} cues: {quoted}")


def classify_input(text_or_messages: Any) -> TaskClassification:
    """Classify a string, messages or a PromptValue with keyword rules."""
    return _decide(to_request(text_or_messages))
