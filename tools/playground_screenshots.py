"""Screenshots of `openmux playground` in headless Chromium, against loopback fake providers.

    python tools/playground_screenshots.py [--out docs] [--chromium chromium]

Starts two fake providers (the first answers 429 once, so the attempts timeline shows a
failover; the second also serves an image model), runs `openmux playground` on a free
port with them as its only providers, drives a real Chromium through the DevTools
protocol (types a question, sends it, asks for a drawing, opens the Compare tab and
compares three answers, opens the Usage tab) and saves docs/playground-chat.png,
docs/playground-image.png, docs/playground-compare.png and docs/playground-usage.png.
Needs the `ui` extra and Debian's `chromium` package.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from openmux.testing import FakeProviderServer, Fault

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import provider_toml  # noqa: E402

QUESTION = "Explain in two sentences why the sky is blue."
DRAWING = "Draw a lighthouse at dawn"
ANSWER = (
    "Sunlight is scattered by the molecules of the air, and short blue wavelengths are "
    "scattered far more than long red ones (Rayleigh scattering). So wherever you look "
    "away from the Sun, you see that scattered blue light."
)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--window-size=1400,1000",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"nothing answered at {url} within {seconds:.0f} s")


class Page:
    """One Chromium tab, driven through the DevTools protocol."""

    def __init__(self, socket_url: str) -> None:
        self.connection: ClientConnection = connect(socket_url, max_size=None, legacy=True)
        self.ids = itertools.count(1)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self.ids)
        self.connection.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.connection.recv())
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def wait_until(self, expression: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.evaluate(expression):
                return
            time.sleep(0.3)
        raise SystemExit(f"the page never satisfied: {expression}")

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        print(f"saved {path}")


def type_into(page: Page, label: str, text: str) -> None:
    """Fill the textarea whose label is `label` the way a keyboard would (input events)."""
    page.evaluate(
        f"""(() => {{
        const area = [...document.querySelectorAll('textarea')]
            .find(a => (a.closest('label')?.innerText || '').includes({json.dumps(label)})
                    || a.getAttribute('data-testid') === {json.dumps(label)}
                    || (a.placeholder || '').includes({json.dumps(label)}));
        area.focus();
        area.value = {json.dumps(text)};
        area.dispatchEvent(new Event('input', {{bubbles: true}}));
        return true;
    }})()"""
    )


def click(page: Page, text: str, selector: str = "button") -> None:
    found = page.evaluate(
        f"""(() => {{
        const node = [...document.querySelectorAll({json.dumps(selector)})]
            .find(b => b.innerText.trim() === {json.dumps(text)});
        if (!node) return false;
        node.click();
        return true;
    }})()"""
    )
    if not found:
        raise SystemExit(f"no {selector} reads {text!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--chromium", default="chromium")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    with FakeProviderServer() as server, tempfile.TemporaryDirectory() as work:
        busy = server.add_provider("fake-a", models=["big-model"], reply=ANSWER)
        server.add_provider("fake-b", models=["fast-model", "other-model"], reply=ANSWER)
        busy.fault = Fault.status(429, retry_after=1)
        # Appended to the last table, fake-b's: an image model (the fake draws a test card).
        config = provider_toml(*server.providers.values()) + 'image_models = ["img-1"]\n'
        Path(work, "openmux.toml").write_text(config, encoding="utf-8")
        port = free_port()
        env = {**os.environ, "OPENMUX_STATE_DIR": str(Path(work, "state")), "PYTHONPATH": str(ROOT)}
        ui = subprocess.Popen(
            [sys.executable, "-m", "openmux.cli", "playground", "--port", str(port)],
            cwd=work,
            env=env,
        )
        browser = None
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_for_http(url)
            debug_port = free_port()
            browser = subprocess.Popen(
                [
                    args.chromium,
                    *CHROMIUM_FLAGS,
                    f"--user-data-dir={Path(work, 'chromium')}",
                    f"--remote-debugging-port={debug_port}",
                    "about:blank",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_for_http(f"http://127.0.0.1:{debug_port}/json/version")
            with urllib.request.urlopen(f"http://127.0.0.1:{debug_port}/json/list") as reply:
                target = next(t for t in json.load(reply) if t["type"] == "page")
            page = Page(target["webSocketDebuggerUrl"])
            page.send("Page.enable")
            page.send("Page.navigate", url=url)
            page.wait_until("!!document.querySelector('textarea')")

            type_into(page, "Ask anything", QUESTION)
            click(page, "Send")
            page.wait_until("document.body.innerText.includes('Attempts')")
            page.wait_until("document.body.innerText.includes('Rayleigh')")
            time.sleep(1)
            page.screenshot(args.out / "playground-chat.png")

            # A new conversation: after a text question, earlier turns would tip a short
            # drawing request towards chat.
            page.send("Page.navigate", url=url)
            page.wait_until("!!document.querySelector('textarea')")
            type_into(page, "Ask anything", DRAWING)
            click(page, "Send")
            page.wait_until("document.body.innerText.includes('img-1')")
            page.wait_until("!!document.querySelector('[data-testid=bot] img, .message img')")
            time.sleep(1)
            page.screenshot(args.out / "playground-image.png")

            click(page, "Compare", "button[role=tab]")
            page.wait_until("document.body.innerText.includes('Ask several models at once')")
            type_into(page, "Ask several models at once", QUESTION)
            click(page, "Compare", "button.primary, button.lg")
            page.wait_until("!!document.querySelector('.om-cards')")
            time.sleep(1)
            page.screenshot(args.out / "playground-compare.png")

            click(page, "Usage", "button[role=tab]")
            page.wait_until("!!document.querySelector('.om-chart svg')")
            page.wait_until("document.body.innerText.includes('fake-b:fast-model')")
            time.sleep(1)
            page.screenshot(args.out / "playground-usage.png")
        finally:
            if browser is not None:
                browser.terminate()
                browser.wait(10)
            ui.terminate()
            ui.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
