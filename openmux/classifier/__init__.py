"""Task classification: what the user wants back (chat, code, tts, audio, embeddings, image, other)."""

from openmux.classifier._types import TaskClassification, TaskType

__all__ = ["TaskClassification", "TaskType", "classify"]


def classify(text_or_messages: object) -> TaskClassification:
    from openmux.classifier._rules import classify_input

    return classify_input(text_or_messages)
