"""Classification logic on top of the model: media blocks, conversations, secondary labels."""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from openmux.classifier._input import Request, to_request
from openmux.classifier._model import LABELS, Model, Scored, argmax, get_model
from openmux.classifier._types import TaskClassification, TaskType, explained_later

_CODE = LABELS.index("code")
_CHAT = LABELS.index("chat")
# A last turn this short (in words, or characters for scripts without spaces) is a follow-up.
_SHORT_WORDS = 5
_SHORT_CHARS = 12
_SURE = 0.85
_MEDIA_CONFIDENCE = 0.97
_SECONDARY_MIN = 0.6

_SPLIT = re.compile(
    r"\s*(?:;|\band then\b|\bthen\b|\bafterwards\b|\band also\b|\bas well as\b|\bplus\b|"
    r"\band\b(?=\s+(?:also\s+)?(?:write|draw|make|create|generate|read|transcribe|compose|"
    r"summari[sz]e|translate|embed|give|explain|add|turn|convert|design|narrate|say|record|"
    r"build|produce|suggest|render|paint|sketch|cluster|compute|speak|voice)\b)|"
    r"\by luego\b|\bet ensuite\b|\bund dann\b|\be depois\b|"
    r"然后|并且|それから|그리고|затем|и потом)\s*",
    re.IGNORECASE,
)


def _is_short(text: str) -> bool:
    words = text.split()
    if len(words) > 1 or text.isascii():
        return len(words) <= _SHORT_WORDS
    return len(text.strip()) <= _SHORT_CHARS


def _quote(cues: list[str]) -> str:
    return ", ".join(f"'{c}'" for c in cues)


_CONNECTORS = (
    ";",
    " and ",
    " then ",
    "afterwards",
    " as well as ",
    " plus ",
    " y luego ",
    " et ensuite ",
    " und dann ",
    " e depois ",
    "然后",
    "并且",
    "それから",
    "그리고",
    "затем",
    "и потом",
)


def _clauses(model: Model, text: str) -> list[tuple[int, float]]:
    """Label and probability of each clause when the text chains several requests."""
    head = text[:400]
    lowered = head.casefold()
    if not any(c in lowered for c in _CONNECTORS):
        return []
    parts = [
        p
        for p in _SPLIT.split(head)
        if p and (len(p.split()) >= 3 or (not p.isascii() and len(p) >= 6))
    ]
    if len(parts) < 2:
        return []
    out = []
    for part in parts:
        p = model.proba(model.score(part).logits)
        k = argmax(p)
        out.append((k, p[k]))
    return out


def _two_artifacts(
    model: Model, text: str, primary: int, conf: float
) -> tuple[int, float, list[TaskType]]:
    """Primary label, its confidence and the secondary labels of a chained request.

    When clauses ask for different artifacts, the primary is the one the user cannot do
    without: a non-text artifact beats the text (chat) that accompanies it.
    """
    strong: dict[int, float] = {}
    for k, p in _clauses(model, text):
        if p >= _SECONDARY_MIN and p > strong.get(k, 0.0):
            strong[k] = p
    if not strong or set(strong) == {primary}:
        return primary, conf, []
    labels = [primary, *(k for k in strong if k != primary)]
    if primary == _CHAT:
        non_chat = [k for k in strong if k != _CHAT]
        if non_chat:
            primary, conf = non_chat[0], strong[non_chat[0]]
    return primary, conf, [TaskType(LABELS[k]) for k in labels if k != primary]


def _decide(req: Request) -> TaskClassification:
    model = get_model()
    text = req.text
    if not text.strip() and not (req.images or req.audios) and req.earlier:
        text, req = (
            req.earlier[-1],
            Request(req.earlier[-1], req.earlier_images, req.earlier_audios, req.earlier[:-1]),
        )
    scored = model.score(text)
    logits = scored.logits
    p = model.proba(logits)
    note = ""
    # Earlier turns speak only for a last turn that is unsure or a short one with no task
    # of its own ("make it shorter"): a clear request ("Draw a lighthouse") stands alone.
    follow_up = bool(req.earlier) and (max(p) < _SURE or (_is_short(text) and argmax(p) == _CHAT))
    if follow_up:
        context = "\n".join([*req.earlier[-2:], text])
        joint = model.score(context)
        pj = model.proba(joint.logits)
        if argmax(pj) != argmax(p):
            note = " (earlier turns broke the tie)"
            scored, p = joint, pj
    images = req.images or (follow_up and req.earlier_images)
    audios = req.audios or (follow_up and req.earlier_audios)
    k = argmax(p)

    if audios:
        secondary = [TaskType(LABELS[k])] if k not in (_CHAT, LABELS.index("audio")) else []
        return TaskClassification(
            TaskType.AUDIO, _MEDIA_CONFIDENCE, secondary, "audio content in the message" + note
        )
    if images and k != _CODE:
        image = LABELS.index("image")
        secondary = [TaskType(LABELS[k])] if k not in (_CHAT, image) and p[k] >= 0.5 else []
        return TaskClassification(
            TaskType.IMAGE, _MEDIA_CONFIDENCE, secondary, "image content in the message" + note
        )
    k, confidence, secondary = _two_artifacts(model, text, k, p[k])
    label = TaskType(LABELS[k])
    cue_text = "\n".join([*req.earlier[-2:], text]) if note else text
    explain = partial(_explain, model, scored, k, cue_text, bool(images), note)
    return explained_later(label, round(confidence, 4), secondary, explain)


def _explain(
    model: Model, scored: Scored, k: int, text: str, code_about_image: bool, note: str
) -> str:
    """The classification's reason: the words that pushed hardest towards its label."""
    label = TaskType(LABELS[k])
    cues = model.cues(scored, k, text)
    if cues:
        reason = f"{label.value} cues: {_quote(cues)}"
    elif label is TaskType.CHAT:
        reason = "no task cues: general chat"
    else:
        reason = f"{label.value} (weak cues)"
    if code_about_image:
        reason += "; asks for code about the attached image"
    return reason + note


def classify_input(text_or_messages: Any) -> TaskClassification:
    """Classify a string, a list of messages (or role/content dicts) or a PromptValue."""
    return _decide(to_request(text_or_messages))


def probabilities(text: str) -> dict[str, float]:
    """Calibrated probability of every label for one text (no conversation logic)."""
    model = get_model()
    p = model.proba(model.score(text).logits)
    return {label: float(v) for label, v in zip(LABELS, p, strict=True)}
