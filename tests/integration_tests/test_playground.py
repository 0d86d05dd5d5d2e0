"""`openmux playground` driven through gradio_client against loopback fake providers."""

from __future__ import annotations

import base64
import contextlib
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("gradio", reason='needs: pip install "openmux[ui]"')

from gradio_client import Client

from openmux.testing import FakeProviderServer, Fault
from tests.helpers import default_signals, provider_toml, readme_blocks, run_cli

# Every test gets the declared providers back, whatever the test before it changed.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("server")]

PROVIDERS = {
    "alpha": dict(models=["m-1", "m-2"], reply="Answer from alpha."),
    "beta": dict(models=["m-3"], reply="Answer from beta."),
}
IMAGE_MODEL = "img-1"
SPEECH_MODEL = "tts-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _running_playground(
    server: FakeProviderServer, work: Path, host: str = "127.0.0.1"
) -> Iterator[tuple[subprocess.Popen[str], Client]]:
    """`openmux playground --host HOST` in `work`, with the fake providers, until the block
    ends."""
    config = provider_toml(*server.providers.values())
    # Appended to the last table, beta's: its image and speech models (the fake serves both).
    config += f"image_models = [{IMAGE_MODEL!r}]\nspeech_models = [{SPEECH_MODEL!r}]\n"
    (work / "openmux.toml").write_text(config, "utf-8")
    port = _free_port()
    env = {
        **os.environ,
        "OPENMUX_STATE_DIR": str(work / "state"),
        "HOME": str(work),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "openmux.cli", "playground", "--host", host, "--port", str(port)],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=default_signals,  # so that a test can stop it with Ctrl-C
    )
    url = f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
    try:
        for _ in range(600):  # importing Gradio takes a while on a busy machine
            if process.poll() is not None:
                pytest.fail(
                    f"the playground exited: {process.stdout.read() if process.stdout else ''}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        # Files stay on the server; a test fetches one by its URL, as the browser would.
        yield process, Client(url, verbose=False, download_files=False)
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(20)


@pytest.fixture(scope="module")
def playground(
    module_server: FakeProviderServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Client]:
    with _running_playground(module_server, tmp_path_factory.mktemp("playground")) as (_, client):
        yield client


def _text(turn: dict[str, Any]) -> str:
    content = turn["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") != "file")


def test_chat_streams_and_shows_the_routing(playground: Client) -> None:
    job = playground.submit("What is recursion?", [], api_name="/chat")
    outputs = list(job)
    history, routing, run_id, prompt = job.result()
    assert len(outputs) >= 2  # the question first, then the answer as it streams
    assert [turn["role"] for turn in history] == ["user", "assistant"]
    assert _text(history[1]) == "Answer from alpha."
    assert "<b>Task</b> chat" in routing and "alpha:m-1" in routing
    assert "Attempts" in routing and ">ok<" in routing
    assert run_id and prompt == ""

    follow_up = playground.predict("And in one word?", history, api_name="/chat")[0]
    assert [_text(turn) for turn in follow_up][-2:] == ["And in one word?", "Answer from alpha."]


def test_attempts_timeline_shows_a_failover(server: FakeProviderServer, playground: Client) -> None:
    server.providers["alpha"].fault = Fault.status(500)
    routing = playground.predict("Tell me a fact", [], api_name="/chat")[1]
    assert routing.index("http_5xx") < routing.index(">ok<")
    assert "beta:m-3" in routing


def test_thumbs_vote_on_the_answer(playground: Client) -> None:
    run_id = playground.predict("Hello there", [], api_name="/chat")[2]
    assert playground.predict(run_id, api_name="/vote").startswith("Voted up alpha:m-1 for chat")
    down = playground.predict(run_id, api_name="/vote_down")
    assert "1 up / 1 down" in down
    assert "Ask something first" in playground.predict("", api_name="/vote")


def test_compare_shows_members_side_by_side(playground: Client) -> None:
    members, combined = playground.predict("Capital of France?", 3, "concat", api_name="/compare")
    for name in ("alpha:m-1", "alpha:m-2", "beta:m-3"):
        assert name in members
    assert "om-card" in members and " ms" in members
    assert "Answer from beta." in combined


def test_settings_restrict_providers_and_force_the_task(playground: Client) -> None:
    status = playground.predict(True, ["beta"], "code", api_name="/apply_settings")
    assert status == "Free only: yes; providers: beta; task: code"
    routing = playground.predict("Say hi", [], api_name="/chat")[1]
    assert "beta:m-3" in routing and "<b>Task</b> code" in routing
    playground.predict(True, ["alpha", "beta"], "auto", api_name="/apply_settings")


def test_usage_lists_this_sessions_answers(playground: Client) -> None:
    playground.predict("Count me", [], api_name="/chat")
    usage = playground.predict("7d", api_name="/usage")[2]
    rows = {row[0]: row for row in usage["data"]}
    assert rows["alpha:m-1"][1] >= 1  # answers
    bench = playground.predict("7d", api_name="/usage")[3]
    assert isinstance(bench["data"], list)


def test_usage_shows_the_recorded_stats_and_their_chart(
    server: FakeProviderServer, playground: Client
) -> None:
    server.providers["alpha"].fault = Fault.status(500)
    playground.predict("Tell me another fact", [], api_name="/chat")
    server.providers["alpha"].fault = None
    playground.predict("And one more", [], api_name="/chat")

    stats, chart = playground.predict("1h", api_name="/usage")[:2]
    assert stats["headers"][:4] == ["provider:model", "requests", "today / free limit", "success"]
    rows = {row[0]: dict(zip(stats["headers"], row, strict=True)) for row in stats["data"]}
    alpha, beta = rows["alpha:m-1"], rows["beta:m-3"]
    assert alpha["requests"] >= 2 and "http_5xx" in alpha["failures"]
    assert alpha["success"] != "100%" and beta["success"] == "100%"
    assert alpha["today / free limit"].endswith(" today")
    assert beta["tokens out"] > 0 and beta["p50 ms"] != "-"
    # The same chart `openmux stats --plot FILE.svg` writes, inline.
    assert chart.startswith("<div class='om-chart'><svg") and "alpha:m-1</text>" in chart
    assert "OpenMux usage since " in chart and "answered" in chart

    nothing, why = playground.predict("last tuesday", api_name="/usage")[:2]
    assert nothing["data"] == []
    assert "is not a span or a date" in why


def _media_parts(turn: dict[str, Any]) -> list[dict[str, Any]]:
    content = turn["content"]
    return (
        [part for part in content if part.get("type") == "file"]
        if isinstance(content, list)
        else []
    )


@pytest.mark.parametrize(
    ("question", "task", "model", "mime_type"),
    [
        ("Draw a lighthouse at dawn", "image", IMAGE_MODEL, "image/png"),
        ("Read this aloud: hello there", "tts", SPEECH_MODEL, "audio/wav"),
    ],
)
def test_a_media_answer_shows_as_an_image_or_a_player(
    playground: Client, question: str, task: str, model: str, mime_type: str
) -> None:
    history, routing, run_id, _ = playground.predict(question, [], api_name="/chat")
    [part] = _media_parts(history[1])
    assert part["file"]["mime_type"] == mime_type
    with urllib.request.urlopen(part["file"]["url"], timeout=30) as served:
        assert served.headers["content-type"] == mime_type
        assert served.read(4) == (b"\x89PNG" if mime_type == "image/png" else b"RIFF")
    assert f"<b>Task</b> {task}" in routing and f"beta:{model}" in routing and ">ok<" in routing
    assert run_id

    # The next turn carries the media as a placeholder, and a text answer follows it.
    follow_up = playground.predict("Thanks!", history, api_name="/chat")[0]
    assert _text(follow_up[-1]) == "Answer from alpha."


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_media_answers_are_private_files_gone_when_the_playground_stops(
    server: FakeProviderServer, tmp_path: Path, stop: signal.Signals
) -> None:
    """An image or a speech answer comes from the user's prompt: other users of the
    machine may not read it, and it does not outlive the playground."""
    with _running_playground(server, tmp_path) as (process, client):
        history = client.predict("Draw a lighthouse at dawn", [], api_name="/chat")[0]
        [part] = _media_parts(history[1])
        served = Path(part["file"]["path"])
        assert served.is_file()
        private = [folder for folder in served.parents if folder.stat().st_mode & 0o077 == 0]
        assert private, f"{served} is in no folder of its owner alone"
        process.send_signal(stop)
        assert process.wait(30) == 0
    assert not private[-1].exists()


def test_playground_on_the_ipv6_loopback(server: FakeProviderServer, tmp_path: Path) -> None:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    with _running_playground(server, tmp_path, host="::1") as (_, client):
        history = client.predict("Hello", [], api_name="/chat")[0]
    assert _text(history[1]) == "Answer from alpha."


def test_playground_refuses_a_non_loopback_host() -> None:
    result = run_cli("playground", "--host", "0.0.0.0", timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("openmux playground: 0.0.0.0 is not a loopback")


def _post(url: str, body: bytes, **headers: str) -> tuple[int, str]:
    """A raw POST with exactly these headers (a browser's, or one a web page makes it send)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


_CHAT_CALL = b'{"data": ["Spend my quota", []]}'


def test_a_page_whose_name_resolves_to_this_machine_cannot_use_the_playground(
    server: FakeProviderServer, playground: Client
) -> None:
    """DNS rebinding: a page at attacker.example whose name then resolves to 127.0.0.1 is
    of the same origin as what it fetches, so only the Host header tells them apart."""
    port = playground.src.rstrip("/").rsplit(":", 1)[1]
    foreign = {"Host": f"attacker.example:{port}", "Content-Type": "application/json"}
    status, body = _post(f"{playground.src}gradio_api/call/chat", _CHAT_CALL, **foreign)
    assert status == 403
    assert "attacker.example" in body and "is not this machine" in body
    time.sleep(1)  # a queued call would have reached the provider by now
    assert server.providers["alpha"].hits == 0
    page = urllib.request.Request(playground.src, headers={"Host": f"attacker.example:{port}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(page, timeout=30)
    assert refused.value.code == 403


def test_a_page_of_another_origin_cannot_use_the_playground(
    server: FakeProviderServer, playground: Client
) -> None:
    """A web page may send a form (multipart, no preflight) anywhere, and Gradio lets any
    page served from localhost call its API and read the answers."""
    boundary = "form-boundary"
    form = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=files; filename=fill.bin\r\n"
        f"Content-Type: application/octet-stream\r\n\r\n{'x' * 1000}\r\n--{boundary}--\r\n"
    ).encode()
    status, body = _post(
        f"{playground.src}gradio_api/upload",
        form,
        Origin="https://attacker.example",
        **{"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert (status, body) == (
        403,
        "openmux playground: requests from pages of another "
        "origin (https://attacker.example) are refused\n",
    )

    local_page = {"Origin": "http://localhost:1", "Content-Type": "application/json"}
    status, _ = _post(f"{playground.src}gradio_api/call/chat", _CHAT_CALL, **local_page)
    assert status == 403
    time.sleep(1)  # a queued call would have reached the provider by now
    assert server.providers["alpha"].hits == 0

    own_page = {"Origin": playground.src.rstrip("/"), "Content-Type": "application/json"}
    status, body = _post(f"{playground.src}gradio_api/call/chat", _CHAT_CALL, **own_page)
    assert status == 200 and "event_id" in body


def test_playground_on_a_port_in_use_says_so() -> None:
    """7860 is every Gradio app's default port, so a second one is common."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("playground", "--port", str(port), timeout=120)
    assert result.returncode == 2
    assert result.stderr == (
        f"openmux playground: cannot listen on 127.0.0.1:{port} (Address already in use); "
        "choose another port with --port\n"
    )
    assert "Ctrl-C" not in result.stdout


def test_readme_example(playground: Client, capsys: pytest.CaptureFixture[str]) -> None:
    [example] = readme_blocks("Playground", "python")
    example = example.replace("http://127.0.0.1:7860/", playground.src)
    exec(compile(example, "README.md", "exec"), {})
    assert "\nVoted up alpha:m-1 for chat: " in capsys.readouterr().out


class _Collector(http.server.BaseHTTPRequestHandler):
    """Another origin on loopback: what an attacker's server would see."""

    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(200)
        self.send_header("content-type", "image/gif")
        self.end_headers()
        self.wfile.write(_PIXEL)

    def log_message(self, *args: Any) -> None:
        return None


_PIXEL = base64.b64decode("R0lGODlhAQABAAAAACH5BAEAAAAALAAAAAABAAEAAAIBAAA=")
_CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_BROWSER_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_an_answer_cannot_make_the_browser_send_the_conversation_elsewhere(
    server: FakeProviderServer, playground: Client
) -> None:
    """A prompt injection can steer an answer; rendered as markdown, an image of another
    origin would carry the conversation out in its URL as the page loads it."""
    sync_playwright = pytest.importorskip(
        "playwright.sync_api", reason='needs: pip install -e ".[dev]"'
    ).sync_playwright
    if _CHROMIUM is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    elsewhere = f"http://127.0.0.1:{collector.server_address[1]}"
    server.providers["alpha"].reply = (
        f"Your chart: ![chart]({elsewhere}/md?q=secret) and "
        f'<img alt="logo" src="{elsewhere}/html?q=secret">'
    )
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=_CHROMIUM, args=_BROWSER_FLAGS)
            page = browser.new_page()
            page.goto(playground.src)
            page.get_by_label("Ask anything").fill("Show me my chart")
            page.get_by_role("button", name="Send").click()
            images = page.locator(f'img[src^="{elsewhere}"]')
            images.first.wait_for(state="attached")
            # Loaded or refused, each image is done with its URL once `complete`.
            page.wait_for_function(
                "src => [...document.querySelectorAll(`img[src^='${src}']`)]"
                ".every(img => img.complete)",
                arg=elsewhere,
            )
            # The playground's own media still shows: an image answer, served by itself.
            page.get_by_label("Ask anything").fill("Draw a lighthouse at dawn")
            page.get_by_role("button", name="Send").click()
            page.wait_for_function(
                "[...document.querySelectorAll('img[src*=\"/gradio_api/file=\"]')]"
                ".some(img => img.complete && img.naturalWidth > 0)"
            )
            browser.close()
    finally:
        collector.shutdown()
    assert _Collector.seen == []
