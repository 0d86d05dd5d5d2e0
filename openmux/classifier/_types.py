"""The classification contract shared by the classifier, the router and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum


class TaskType(str, Enum):
    """What the user wants back (see the task taxonomy in the docs)."""

    CHAT = "chat"
    CODE = "code"
    TTS = "tts"
    AUDIO = "audio"
    EMBEDDINGS = "embeddings"
    IMAGE = "image"
    OTHER = "other"

    # The member's own string, read in C: `self.value` goes through enum's descriptor,
    # and a routed request asks for its task's name several times.
    __str__ = str.__str__

    @classmethod
    def from_string(cls, value: str) -> TaskType:
        """The task named `value` in any case (`"CODE"`, `"code"`), as OpenMux 0.2 spelt it."""
        try:
            return cls(value.strip().lower())
        except (ValueError, AttributeError):
            valid = ", ".join(task.value for task in cls)
            raise ValueError(f"invalid task type {value!r}; valid types: {valid}") from None


class _Reason:
    """The `reason` field: its string, written on first read when the classification
    was made with `explained_later`."""

    def __get__(self, instance: object, owner: type | None = None) -> str:
        if instance is None:
            return ""  # the field's default
        value = instance.__dict__["reason"]
        if not isinstance(value, str):
            value = instance.__dict__["reason"] = value()
        return value

    def __set__(self, instance: object, value: str) -> None:
        instance.__dict__["reason"] = value


@dataclass(frozen=True)
class TaskClassification:
    """The label of one request, how sure the classifier is, and why."""

    task: TaskType
    confidence: float
    secondary: list[TaskType] = field(default_factory=list)
    reason: str = _Reason()  # type: ignore[assignment]  # a str on every read

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", TaskType(self.task))
        object.__setattr__(self, "secondary", [TaskType(t) for t in self.secondary])
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must lie in [0, 1], got {self.confidence}")

    def __getstate__(self) -> dict[str, object]:  # copies and pickles hold the string
        return {**self.__dict__, "reason": self.reason}


def explained_later(
    task: TaskType, confidence: float, secondary: list[TaskType], explain: Callable[[], str]
) -> TaskClassification:
    """A classification whose reason `explain` writes when it is first read: the
    bundled classifier's explanation costs more than its label, and routing a request
    never reads it."""
    result = TaskClassification(task, confidence, secondary)
    result.__dict__["reason"] = explain
    return result
