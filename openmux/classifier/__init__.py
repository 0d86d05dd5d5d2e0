"""Task classification: what the user wants back.

Labels: chat, code, tts, audio, embeddings, image, other (see the task taxonomy).
Importing this package is cheap; the classifier loads on the first call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openmux.classifier._types import TaskClassification, TaskType

__all__ = [
    "SecondTier",
    "TaskClassification",
    "TaskType",
    "classify",
    "resolve_classifier",
    "second_tier_question",
]


def classify(text_or_messages: Any) -> TaskClassification:
    """Classify a string, a list of messages (or role/content dicts) or a PromptValue."""
    from openmux.classifier._classify import classify_input

    return classify_input(text_or_messages)


def resolve_classifier(obj: Any = None) -> Callable[[Any], TaskClassification]:
    """Turn ``None`` (the default classifier), a callable or a Runnable into a callable.

    The result takes the request (text, messages or PromptValue) and returns a
    ``TaskClassification``; a Runnable is invoked with the request as its input.
    """
    if obj is None:
        return classify
    invoke = getattr(obj, "invoke", None)
    if callable(invoke):

        def _run(request: Any) -> TaskClassification:
            return _check(invoke(request), obj)

        return _run
    if callable(obj):

        def _call(request: Any) -> TaskClassification:
            return _check(obj(request), obj)

        return _call
    raise TypeError(f"classifier must be None, a callable or a Runnable, got {type(obj).__name__}")


def _check(result: Any, source: Any) -> TaskClassification:
    if isinstance(result, TaskClassification):
        return result
    raise TypeError(
        f"classifier {source!r} returned {type(result).__name__}, expected TaskClassification"
    )


def __getattr__(name: str) -> Any:
    # The second tier builds LangChain messages: loaded only by a router that uses it.
    if name in ("SecondTier", "second_tier_question"):
        from openmux.classifier import _second_tier

        value = _second_tier.SecondTier if name == "SecondTier" else _second_tier.question
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
