"""What the playground does, without the UI: ask (streaming), compare, vote, usage.

Every answer goes through ChatOpenMux; the panels beside it render the answer's
`response_metadata["openmux"]`. Kept apart from Gradio so each action can be read and
tested on its own.
"""

from __future__ import annotations

import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openmux.errors import OpenMuxError

if TYPE_CHECKING:
    from openmux.chat_models import ChatOpenMux

AUTO_TASK = "auto"
TASK_CHOICES = (AUTO_TASK, "chat", "code", "image", "tts", "audio", "embeddings", "other")
STATS_HEADERS = (
    "provider:model",
    "requests",
    "today / free limit",
    "success",
    "p50 ms",
    "p95 ms",
    "tokens in",
    "tokens out",
    "failures",
    "skipped (quota)",
    "at paid prices",
)
COMBINERS = ("best", "vote", "concat", "summarize", "local-summarize")

_STATUS_COLOURS = {"ok": "#2e7d32", "rate_limited": "#ef6c00", "timeout": "#ef6c00"}
_FAILED_COLOUR = "#c62828"


@dataclass(frozen=True)
class Choices:
    """The settings panel: free-only, the allowed providers, a task override."""

    free_only: bool = True
    providers: tuple[str, ...] = ()
    task: str = AUTO_TASK

    def call_kwargs(self) -> dict[str, Any]:
        return {} if self.task in ("", AUTO_TASK) else {"task": self.task}


@dataclass
class Usage:
    """This session's answers and tokens per model."""

    answers: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0


@dataclass
class Session:
    """One playground process: its models (per settings), answers and usage."""

    base_config: dict[str, Any] | None = None
    _models: dict[tuple[Any, ...], ChatOpenMux] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    usage: dict[str, Usage] = field(default_factory=dict)
    _media_dir: Path | None = None

    # -- models -----------------------------------------------------------------------------

    def model(self, choices: Choices, fanout: int | None = None, combiner: str = "best") -> Any:
        from openmux.chat_models import ChatOpenMux

        key = (choices.free_only, choices.providers, fanout, combiner)
        with self._lock:
            llm = self._models.get(key)
            if llm is None:
                options: dict[str, Any] = {"free_only": choices.free_only}
                if choices.providers:
                    options["providers"] = list(choices.providers)
                if fanout:
                    options |= {"fanout": fanout, "combiner": combiner}
                llm = ChatOpenMux(config=self.base_config, **options)
                self._models[key] = llm
        return llm

    def provider_names(self) -> list[str]:
        """Providers that can answer now (a key or a running server), in tie-break order."""
        settings = self.model(Choices()).settings
        return [p.name for p in settings.provider_order() if p.enabled and p.usable]

    # -- chat -------------------------------------------------------------------------------

    def ask(
        self, text: str, history: list[dict[str, Any]], choices: Choices
    ) -> Iterator[tuple[str, list[Path], dict[str, Any] | None, str | None]]:
        """Stream (answer so far, its images and sounds as files, routing metadata when
        done, run id when done). Media answers arrive whole, with the metadata."""
        from langchain_core.messages import AIMessage, HumanMessage

        messages: list[Any] = []
        for turn in history:
            content = _plain(turn.get("content"))
            if turn.get("role") == "user":
                messages.append(HumanMessage(content))
            elif turn.get("role") == "assistant":
                messages.append(AIMessage(content))
        messages.append(HumanMessage(text))
        llm = self.model(choices)
        merged = None
        for chunk in llm.stream(messages, **choices.call_kwargs()):
            merged = chunk if merged is None else merged + chunk
            if chunk.text:
                yield merged.text, [], None, None
        if merged is None:
            return
        meta = merged.response_metadata.get("openmux", {})
        self._count(meta, merged.usage_metadata)
        from openmux.quality import remember_answer

        answer = remember_answer(merged.id, meta, llm.settings.state_dir)
        yield merged.text, self._save_media(merged), meta, answer.run_id if answer else None

    def _save_media(self, message: Any) -> list[Path]:
        """The answer's image and audio blocks as files the UI can serve (the system temp
        dir, which Gradio serves from without further configuration)."""
        from openmux.media import media_of

        found = media_of(message)
        if not found:
            return []
        with self._lock:
            if self._media_dir is None:
                self._media_dir = Path(tempfile.mkdtemp(prefix="openmux-playground-"))
            folder = self._media_dir
        return [media.save(folder / f"{uuid.uuid4().hex}{media.suffix}") for media in found]

    def _count(self, meta: dict[str, Any], usage: Any) -> None:
        name = f"{meta.get('provider')}:{meta.get('model')}"
        with self._lock:
            row = self.usage.setdefault(name, Usage())
            row.answers += 1
            row.latency_ms += float(meta.get("latency_ms") or 0.0)
            if usage:
                row.input_tokens += int(usage.get("input_tokens", 0))
                row.output_tokens += int(usage.get("output_tokens", 0))

    # -- compare ----------------------------------------------------------------------------

    def compare(
        self, text: str, fanout: int, combiner: str, choices: Choices
    ) -> tuple[str, dict[str, Any]]:
        """Ask `fanout` models at once; return the combined answer and the metadata."""
        llm = self.model(choices, fanout=fanout, combiner=combiner)
        message = llm.invoke(text, **choices.call_kwargs())
        meta = message.response_metadata.get("openmux", {})
        self._count(meta, message.usage_metadata)
        return message.text, meta

    # -- votes ------------------------------------------------------------------------------

    def vote(self, run_id: str | None, good: bool) -> str:
        from openmux.quality import UnknownRun, vote

        if not run_id:
            return "Ask something first: votes grade the latest answer."
        try:
            answer, quality = vote(run_id, good, self.model(Choices()).settings.state_dir)
        except UnknownRun as exc:
            return str(exc.args[0])
        direction = "up" if good else "down"
        return (
            f"Voted {direction} {answer.provider}:{answer.model} for {answer.task}: "
            f"{quality.up} up / {quality.down} down, score shift {quality.vote_shift:+.2f}"
        )

    # -- usage ------------------------------------------------------------------------------

    def stats(self, since: str) -> tuple[list[list[Any]], str]:
        """`openmux stats` for this state dir: a row per model and the same chart."""
        from openmux.quotas import today_text, usage, usage_svg

        try:
            data = usage(since.strip() or "7d", settings=self.model(Choices()).settings)
        except ValueError as exc:
            return [], f"<p class='om-muted'>{escape(str(exc))}</p>"
        rows = [
            [
                f"{row['provider']}:{row['model']}",
                row["requests"],
                today_text(row),
                "-" if row["success_rate"] is None else f"{row['success_rate']:.0%}",
                "-" if row["p50_ms"] is None else round(row["p50_ms"]),
                "-" if row["p95_ms"] is None else round(row["p95_ms"]),
                row["tokens_in"],
                row["tokens_out"],
                ", ".join(f"{kind} {n}" for kind, n in row["failures"].items()) or "-",
                row["over_quota"],
                "-" if row["would_have_cost_usd"] is None else f"${row['would_have_cost_usd']:.4f}",
            ]
            for row in data["models"]
        ]
        chart = usage_svg(data, f"OpenMux usage since {data['since']}")
        return rows, f"<div class='om-chart'>{chart}</div>"

    def usage_rows(self) -> list[list[Any]]:
        with self._lock:
            return [
                [
                    name,
                    row.answers,
                    row.input_tokens,
                    row.output_tokens,
                    round(row.latency_ms / row.answers) if row.answers else 0,
                ]
                for name, row in sorted(self.usage.items())
            ]

    def bench_rows(self) -> list[list[Any]]:
        from openmux.quality import local_quality, quality_store

        state_dir = self.model(Choices()).settings.state_dir
        rows = []
        latest = {(r.task, r.provider, r.model): r for r in quality_store(state_dir).history()}
        for task in ("chat", "code"):
            for (provider, model), local in sorted(local_quality(task, state_dir).items()):
                bench = latest.get((task, provider, model))
                rows.append(
                    [
                        task,
                        f"{provider}:{model}",
                        f"{local.accuracy:.0%}" if local.accuracy is not None else "-",
                        bench.date if bench else "-",
                        f"{local.up} up / {local.down} down",
                    ]
                )
        return rows


def _plain(content: Any) -> str:
    """Chat history content as text (Gradio may hand back a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_plain(part) for part in content)
    if isinstance(content, dict):
        if isinstance(content.get("file"), dict):  # an image or sound the playground showed
            kind = str(content["file"].get("mime_type") or "file").split("/")[0]
            return f"[{kind}]"
        return str(content.get("text") or content.get("value") or "")
    return "" if content is None else str(content)


# -- rendering -------------------------------------------------------------------------------


def routing_html(meta: dict[str, Any] | None) -> str:
    """The routing panel: task and confidence, model and reason, the attempts timeline."""
    if not meta:
        return "<p class='om-muted'>The routing of each answer shows here.</p>"
    confidence = meta.get("confidence")
    shown = f"{confidence:.2f}" if isinstance(confidence, (int, float)) else "-"
    parts = [
        "<div class='om-routing'>",
        f"<p><b>Task</b> {escape(str(meta.get('task')))} "
        f"<span class='om-muted'>(confidence {shown})</span></p>",
        f"<p><b>Model</b> <code>{escape(str(meta.get('provider')))}:"
        f"{escape(str(meta.get('model')))}</code> in {float(meta.get('latency_ms') or 0):.0f} ms"
        + (" <span class='om-muted'>(offline)</span>" if meta.get("offline") else "")
        + "</p>",
        f"<p><b>Why</b> {escape(str(meta.get('reason') or ''))}</p>",
        attempts_html(meta.get("attempts") or []),
        "</div>",
    ]
    return "".join(parts)


def attempts_html(attempts: list[dict[str, Any]]) -> str:
    """Each attempt as a bar as long as it took, coloured by its outcome."""
    if not attempts:
        return ""
    longest = max(float(a.get("latency_ms") or 0) for a in attempts) or 1.0
    rows = ["<p><b>Attempts</b></p><table class='om-attempts'>"]
    for number, attempt in enumerate(attempts, start=1):
        status = str(attempt.get("status"))
        latency = float(attempt.get("latency_ms") or 0)
        colour = _STATUS_COLOURS.get(status, _FAILED_COLOUR)
        width = max(2, round(120 * latency / longest))
        hedged = " (hedged)" if attempt.get("hedged") else ""
        rows.append(
            f"<tr><td>{number}.</td><td><code>{escape(str(attempt.get('provider')))}:"
            f"{escape(str(attempt.get('model')))}</code></td>"
            f"<td><span style='display:inline-block;height:10px;width:{width}px;"
            f"background:{colour};border-radius:3px'></span></td>"
            f"<td style='color:{colour}'>{escape(status)}{hedged}</td>"
            f"<td>{latency:.0f} ms</td></tr>"
        )
        if attempt.get("error"):
            rows.append(
                "<tr><td></td><td colspan='4' class='om-error'>"
                f"{escape(str(attempt['error'])[:160])}</td></tr>"
            )
    rows.append("</table>")
    return "".join(rows)


def members_html(meta: dict[str, Any]) -> str:
    """Fan-out members side by side, each with its status and time."""
    members = meta.get("members") or []
    if not members:
        return "<p class='om-muted'>No member answered.</p>"
    cards = []
    for member in members:
        status = str(member.get("status"))
        colour = _STATUS_COLOURS.get(status, _FAILED_COLOUR)
        content = member.get("content")
        text = _plain(content) if content is not None else "(no answer)"
        cards.append(
            "<div class='om-card'>"
            f"<p><code>{escape(str(member.get('provider')))}:{escape(str(member.get('model')))}"
            f"</code></p><p style='color:{colour}'>{escape(status)} in "
            f"{float(member.get('latency_ms') or 0):.0f} ms</p>"
            f"<div class='om-answer'>{escape(text)}</div></div>"
        )
    combiner = meta.get("combiner") or {}
    footer = (
        f"<p class='om-muted'>Combined by {escape(str(combiner.get('name')))}: "
        f"{escape(str(combiner.get('reason', '')))}</p>"
    )
    return f"<div class='om-cards'>{''.join(cards)}</div>{footer}"


def error_text(exc: OpenMuxError) -> str:
    return f"OpenMux could not answer: {exc}"
