"""Catalog records: models (capabilities, quality per task with its source) and offers
(a model id as one provider serves it), plus the id normalisation that links them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

SCORED_TASKS = ("chat", "code", "vision")
"""Tasks with a quality metric of their own; every other text task ranks by `chat`."""

_DROPPED_TOKENS = frozenset({"instruct", "it", "versatile", "instant", "turbo", "latest", "free"})
_SPLIT = re.compile(r"[-_:\s]+")


def normalize(model_id: str) -> str:
    """A spelling-independent key: `meta-llama/Llama-3.3-70B-Instruct:free` ->
    `llama3.370b`, as are `llama-3.3-70b-versatile` and `llama3.3:70b`."""
    name = model_id.strip().lower().rsplit("/", 1)[-1]
    tokens = [t for t in _SPLIT.split(name) if t and t not in _DROPPED_TOKENS]
    return "".join(tokens)


@dataclass(frozen=True)
class Score:
    """One quality figure: `value` on the task's metric, where it comes from, and when."""

    value: float
    metric: str
    source: str
    date: str
    estimate: bool = False

    def phrase(self) -> str:
        if self.estimate:
            return f"scores ~{self.value:g} on {self.metric} (estimate)"
        return f"scores {self.value:g} on {self.metric} ({self.source}, {self.date})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "metric": self.metric,
            "source": self.source,
            "date": self.date,
            "estimate": self.estimate,
        }


@dataclass(frozen=True)
class ModelInfo:
    """What is known of a model wherever it is served."""

    id: str
    name: str = ""
    maker: str = ""
    aliases: tuple[str, ...] = ()
    context_length: int | None = None
    tools: bool = True
    json_mode: bool = True
    inputs: tuple[str, ...] = ("text",)
    outputs: tuple[str, ...] = ("text",)
    embeddings: bool = False
    scores: Mapping[str, Score] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def vision(self) -> bool:
        return "image" in self.inputs

    @property
    def chat(self) -> bool:
        return "text" in self.outputs and "text" in self.inputs and not self.embeddings


@dataclass(frozen=True)
class Offer:
    """A model id at one provider; None fields are taken from the model's record."""

    provider: str
    id: str
    model: str | None = None
    context_length: int | None = None
    vision: bool | None = None
    tools: bool | None = None
    json_mode: bool | None = None
    free: bool | None = None
    inputs: tuple[str, ...] | None = None
    outputs: tuple[str, ...] | None = None
    embeddings: bool | None = None
    source: str = "bundled"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id}
        for key in (
            "model",
            "context_length",
            "vision",
            "tools",
            "json_mode",
            "free",
            "inputs",
            "outputs",
            "embeddings",
        ):
            value = getattr(self, key)
            if value is not None:
                data[key] = list(value) if isinstance(value, tuple) else value
        return data

    @classmethod
    def from_dict(cls, provider: str, data: Mapping[str, Any], source: str) -> Offer:
        def opt_bool(key: str) -> bool | None:
            value = data.get(key)
            return bool(value) if isinstance(value, bool) else None

        def opt_tuple(key: str) -> tuple[str, ...] | None:
            value = data.get(key)
            return tuple(str(v) for v in value) if isinstance(value, list) else None

        context = data.get("context_length")
        model = data.get("model")
        return cls(
            provider=provider,
            id=str(data["id"]),
            model=str(model) if isinstance(model, str) else None,
            context_length=int(context) if isinstance(context, int) and context > 0 else None,
            vision=opt_bool("vision"),
            tools=opt_bool("tools"),
            json_mode=opt_bool("json_mode"),
            free=opt_bool("free"),
            inputs=opt_tuple("inputs"),
            outputs=opt_tuple("outputs"),
            embeddings=opt_bool("embeddings"),
            source=source,
        )


@dataclass(frozen=True)
class Resolved:
    """A (provider, model id) with everything the catalog and the provider table know."""

    id: str
    info: ModelInfo | None
    offer: Offer | None
    context_length: int | None
    vision: bool
    tools: bool
    json_mode: bool
    embeddings: bool
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def chat(self) -> bool:
        return "text" in self.outputs and "text" in self.inputs and not self.embeddings

    def capabilities(self) -> list[str]:
        caps: list[str] = []
        if self.chat:
            caps += ["chat", "code"]
        if self.vision:
            caps.append("vision")
        if self.chat and self.tools:
            caps.append("tools")
        if self.chat and self.json_mode:
            caps.append("json")
        if self.embeddings:
            caps.append("embeddings")
        if "image" in self.outputs:
            caps.append("image-out")
        if "audio" in self.outputs:
            caps.append("tts")
        if "audio" in self.inputs:
            caps.append("audio-in")
        return caps


def model_from_dict(data: Mapping[str, Any], metrics: Mapping[str, str]) -> ModelInfo:
    scores: dict[str, Score] = {}
    for task, raw in (data.get("scores") or {}).items():
        scores[task] = Score(
            value=float(raw["value"]),
            metric=metrics.get(task, task),
            source=str(raw.get("source", "")),
            date=str(raw.get("date", "")),
            estimate=bool(raw.get("estimate", False)),
        )
    embeddings = bool(data.get("embeddings", False))
    context = data.get("context_length")
    return ModelInfo(
        id=str(data["id"]),
        name=str(data.get("name", "")),
        maker=str(data.get("maker", "")),
        aliases=tuple(str(a) for a in data.get("aliases", ())),
        context_length=int(context) if isinstance(context, int) else None,
        tools=bool(data.get("tools", not embeddings)),
        json_mode=bool(data.get("json_mode", not embeddings)),
        inputs=tuple(data.get("inputs", ("text",))),
        outputs=tuple(data.get("outputs", ("embeddings",) if embeddings else ("text",))),
        embeddings=embeddings,
        scores=MappingProxyType(scores),
    )


# Ids that name no chat model when a listing says nothing about modalities.
_NOT_CHAT = ("embed", "whisper", "transcribe", "tts", "guard", "moderation", "dall-e", "rerank")


def is_embedding_id(model_id: str) -> bool:
    """An id that names an embedding model (nomic-embed-text, bge-m3, all-minilm, ...)."""
    lowered = model_id.lower()
    return "embed" in lowered or "bge-" in lowered or "minilm" in lowered


def guess_kind(model_id: str) -> dict[str, Any]:
    """Modalities from a bare id, for listings that only give ids (OpenAI /v1/models, Ollama)."""
    lowered = model_id.lower()
    if is_embedding_id(model_id) or "rerank" in lowered:
        return {"embeddings": True, "outputs": ["embeddings"]}
    if "whisper" in lowered or "transcribe" in lowered:
        return {"inputs": ["audio"], "outputs": ["text"], "tools": False}
    if "tts" in lowered:
        return {"outputs": ["audio"], "tools": False}
    if any(word in lowered for word in _NOT_CHAT):
        return {"outputs": ["classification"], "tools": False}
    return {}
