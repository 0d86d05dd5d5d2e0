"""The Gradio app of `openmux playground` (the `ui` extra).

Tabs: Chat (streaming, with the routing beside each answer and thumbs to vote; an image
or a sound shows as one), Compare (fan-out side by side, then the combined answer), Usage
(the recorded requests as `openmux stats` shows them, with its chart; this session's
answers and tokens; the local bench and votes) and Settings (free-only, providers, task
override).
Each action is also a named API endpoint, so `gradio_client` can drive it:
/chat, /vote, /compare, /usage, /apply_settings.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from openmux.config import is_loopback_url
from openmux.errors import OpenMuxError
from openmux.playground._files import FOLDER
from openmux.playground._session import (
    COMBINERS,
    STATS_HEADERS,
    TASK_CHOICES,
    Choices,
    Session,
    error_text,
    members_html,
    routing_html,
)

# Set before Gradio is imported: no telemetry or update checks from a local tool, and the
# files it serves in the playground's own folder (see _files).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GRADIO_TEMP_DIR", str(FOLDER))

import gradio as gr
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketClose

_CSS = """
.om-muted { color: #6b7280; font-size: 0.9em; }
.om-routing p { margin: 0.3em 0; }
.om-attempts, .om-attempts tr, .om-attempts td { border: none !important; background: none; }
.om-attempts td { padding: 2px 6px; font-size: 0.9em; vertical-align: top; white-space: nowrap; }
.om-error { font-size: 0.85em; color: #6b7280; white-space: normal !important; }
.om-cards { display: flex; gap: 12px; flex-wrap: wrap; }
.om-card { flex: 1 1 220px; border: 1px solid #d1d5db; border-radius: 8px; padding: 8px; }
.om-answer { white-space: pre-wrap; font-size: 0.95em; }
.om-chart { overflow-x: auto; }
"""

# System fonts: the page loads nothing from the internet.
_THEME = gr.themes.Soft(
    font=["ui-sans-serif", "system-ui", "sans-serif"],
    font_mono=["ui-monospace", "monospace"],
)


# Answers are model output, which a prompt injection can steer: an image of another
# origin in one (markdown or HTML) would carry the conversation out in its URL as the
# page renders it. The page loads nothing from elsewhere, so images, sound and
# connections may come from the playground alone.
_CONTENT_SECURITY_POLICY = (
    b"img-src 'self' data: blob:; media-src 'self' data: blob:; connect-src 'self'; "
    b"frame-src 'none'; object-src 'none'; base-uri 'self'; form-action 'self'"
)


class _ContentSecurityPolicy:
    """ASGI middleware: the policy above on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ())]
                headers.append((b"content-security-policy", _CONTENT_SECURITY_POLICY))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_policy)


class _ThisMachineOnly:
    """ASGI middleware: only requests addressed to this machine, from the playground's own
    page or from a script, reach the playground.

    Binding loopback keeps other machines out, but not a web page open in the user's
    browser: one at attacker.example whose name then resolves to 127.0.0.1 (DNS
    rebinding) shares the playground's origin, so the browser lets it call every route
    and read the answers, spending the user's keys. Its requests still name
    attacker.example in the Host header, which Gradio does not check.

    A page of another origin needs no rebinding to send a form (multipart, no preflight):
    Gradio stores the files of any upload, of any size. And Gradio's CORS lets any page
    served from localhost, at any port, call the API and read the answers. The playground's
    own page is the only one that drives it; a script sends no Origin.
    """

    def __init__(self, app: ASGIApp, host: str) -> None:
        self.app = app
        self.name = host.strip("[]").lower()  # the --host given, a loopback by the CLI's check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            refusal = self.refusal(Headers(scope=scope))
            if refusal is not None:
                await _refuse(refusal, scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, headers: Headers) -> str | None:
        """Why a request may not reach the playground, or None when it may."""
        host = headers.get("host")
        if host is not None and not self.is_local(host):
            return (
                f"{host} is not this machine's address: open the playground at "
                "http://127.0.0.1 or http://localhost"
            )
        origin = headers.get("origin")
        if origin is not None and _netloc(origin) != (host or "").lower():
            return f"requests from pages of another origin ({origin}) are refused"
        return None

    def is_local(self, host: str) -> bool:
        """Read as written, never resolved: a rebound name resolves to 127.0.0.1."""
        if is_loopback_url(f"//{host}"):
            return True
        try:
            return urlsplit(f"//{host}").hostname == self.name
        except ValueError:
            return False


def _netloc(url: str) -> str:
    """A URL's host and port, as a Host header of the same origin has them."""
    try:
        return urlsplit(url).netloc.lower()
    except ValueError:
        return ""


async def _refuse(reason: str, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await WebSocketClose(code=1008, reason=reason)(scope, receive, send)
        return
    response = PlainTextResponse(f"openmux playground: {reason}\n", status_code=403)
    await response(scope, receive, send)


def build_app(session: Session) -> gr.Blocks:
    providers = session.provider_names()
    with gr.Blocks(title="OpenMux playground") as app:
        gr.Markdown(
            "## OpenMux playground\nEvery answer comes from the best free model "
            "OpenMux can reach; the panel beside it says which and why."
        )
        choices_state = gr.State(Choices(providers=tuple(providers)))
        with gr.Tab("Chat"):
            with gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(label="Conversation", height=420)
                    prompt = gr.Textbox(
                        label="Ask anything", placeholder="Ask anything...", lines=2
                    )
                    with gr.Row():
                        send = gr.Button("Send", variant="primary")
                        good = gr.Button("👍 Good answer")
                        bad = gr.Button("👎 Bad answer")
                    vote_status = gr.Markdown()
                with gr.Column(scale=2):
                    gr.Markdown("### Routing")
                    routing = gr.HTML(routing_html(None))
            run_id = gr.Textbox(visible=False, label="run id")

        with gr.Tab("Compare"):
            with gr.Row():
                compare_prompt = gr.Textbox(label="Ask several models at once", scale=4)
                fanout = gr.Slider(2, 5, value=3, step=1, label="models", scale=1)
                combiner = gr.Dropdown(list(COMBINERS), value="best", label="combiner", scale=1)
            compare_button = gr.Button("Compare", variant="primary")
            members = gr.HTML()
            gr.Markdown("### Combined answer")
            combined = gr.Markdown()

        with gr.Tab("Usage") as usage_tab:
            gr.Markdown(
                "### Recorded requests\nEvery attempt this state dir recorded, as "
                "`openmux stats` shows it: requests today against each free limit, success "
                "rate, latency, tokens, failure kinds and what the tokens would have cost."
            )
            with gr.Row():
                since = gr.Textbox(value="7d", label="Since (7d, 24h, 30m or a date)", scale=3)
                refresh = gr.Button("Refresh", scale=1)
            recorded, chart = session.stats("7d")
            stats_table = gr.Dataframe(
                headers=list(STATS_HEADERS), value=recorded, interactive=False, wrap=True
            )
            stats_plot = gr.HTML(chart)
            gr.Markdown("### This session")
            usage_table = gr.Dataframe(
                headers=["provider:model", "answers", "input tokens", "output tokens", "avg ms"],
                value=session.usage_rows(),
                interactive=False,
            )
            gr.Markdown("### Local bench and votes (what selection ranks by first)")
            bench_table = gr.Dataframe(
                headers=["task", "provider:model", "bench accuracy", "benched", "votes"],
                value=session.bench_rows(),
                interactive=False,
            )

        with gr.Tab("Settings"):
            free_only = gr.Checkbox(value=True, label="Free models only")
            allowed = gr.CheckboxGroup(
                providers, value=providers, label="Providers (a key or a running server)"
            )
            task = gr.Dropdown(list(TASK_CHOICES), value="auto", label="Task (auto: classify)")
            apply = gr.Button("Apply", variant="primary")
            settings_status = gr.Markdown()

        def chat(
            text: str, history: list[dict[str, Any]] | None, choices: Choices
        ) -> Iterator[tuple[list[dict[str, Any]], str, str, str]]:
            """Stream the answer into the conversation; an image or a sound shows as a
            player (Gradio serves the file), any text beside it."""
            history = list(history or [])
            if not text.strip():
                yield history, routing_html(None), "", ""
                return
            asked = [*history, {"role": "user", "content": text}]
            yield [*asked, {"role": "assistant", "content": ""}], routing_html(None), "", ""
            try:
                for answer, media, meta, run in session.ask(text, history, choices):
                    content: Any = answer
                    if media:
                        content = [
                            *([answer] if answer else []),
                            *({"path": str(p)} for p in media),
                        ]
                    shown = [*asked, {"role": "assistant", "content": content}]
                    yield shown, routing_html(meta), run or "", ""
            except OpenMuxError as exc:
                failed = [*asked, {"role": "assistant", "content": error_text(exc)}]
                yield failed, routing_html(None), "", ""

        def compare(text: str, count: float, how: str, choices: Choices) -> tuple[str, str]:
            if not text.strip():
                return "", ""
            try:
                answer, meta = session.compare(text, int(count), how, choices)
            except OpenMuxError as exc:
                return "", error_text(exc)
            return members_html(meta), answer

        def apply_settings(free: bool, names: list[str], task_name: str) -> tuple[Choices, str]:
            chosen = Choices(bool(free), tuple(names or ()), task_name or "auto")
            shown = ", ".join(chosen.providers) or "none"
            return chosen, (
                f"Free only: {'yes' if chosen.free_only else 'no'}; providers: {shown}; "
                f"task: {chosen.task}"
            )

        send.click(
            chat,
            [prompt, chatbot, choices_state],
            [chatbot, routing, run_id, prompt],
            api_name="chat",
        )
        prompt.submit(
            chat,
            [prompt, chatbot, choices_state],
            [chatbot, routing, run_id, prompt],
            api_visibility="private",
        )
        good.click(lambda run: session.vote(run, True), [run_id], [vote_status], api_name="vote")
        bad.click(
            lambda run: session.vote(run, False), [run_id], [vote_status], api_name="vote_down"
        )
        compare_button.click(
            compare,
            [compare_prompt, fanout, combiner, choices_state],
            [members, combined],
            api_name="compare",
        )

        def usage(span: str) -> tuple[list[list[Any]], str, list[list[Any]], list[list[Any]]]:
            return (*session.stats(span), session.usage_rows(), session.bench_rows())

        usage_outputs = [stats_table, stats_plot, usage_table, bench_table]
        refresh.click(usage, [since], usage_outputs, api_name="usage")
        since.submit(usage, [since], usage_outputs, api_visibility="private")
        usage_tab.select(usage, [since], usage_outputs, api_visibility="private")
        apply.click(
            apply_settings,
            [free_only, allowed, task],
            [choices_state, settings_status],
            api_name="apply_settings",
        )
    return app


def launch(session: Session, host: str, port: int | None) -> None:
    if session._media_dir is None:  # saved where Gradio serves them, and removed with it
        session._media_dir = FOLDER
    build_app(session).launch(
        server_name=host,
        server_port=port,
        share=False,
        inbrowser=False,
        show_error=True,
        theme=_THEME,
        css=_CSS,
        app_kwargs={
            "middleware": [
                Middleware(_ThisMachineOnly, host=host),
                Middleware(_ContentSecurityPolicy),
            ]
        },
    )
