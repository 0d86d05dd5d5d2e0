"""A loopback stand-in for the Hugging Face Hub's file endpoint, for `openmux pull` tests.

It answers `HEAD|GET /{owner}/{repo}/resolve/{revision}/{file}` the way the
hub does for a plain (non-Xet) file: `X-Repo-Commit`, `ETag`, `Content-Length`; a file
added with `cut_after` has its download broken off after that many bytes, every time.
https://huggingface.co/docs/huggingface_hub/guides/download
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class FakeHub:
    """`with FakeHub() as hub: hub.add("owner/repo", "file.gguf", data); hub.url`"""

    COMMIT = "0123456789abcdef0123456789abcdef01234567"

    def __init__(self) -> None:
        self.files: dict[tuple[str, str], bytes] = {}
        self.cuts: dict[tuple[str, str], int] = {}
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _answer(self, with_body: bool) -> None:
                hub.requests.append((self.command, self.path))
                parts = self.path.split("?")[0].strip("/").split("/")
                data = None
                key = ("/".join(parts[:2]), "/".join(parts[4:]))
                if len(parts) >= 5 and parts[2] == "resolve":
                    data = hub.files.get(key)
                if data is None:
                    body = b'{"error":"Entry not found"}'
                    self.send_response(404)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if with_body:
                        self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Repo-Commit", hub.COMMIT)
                self.end_headers()
                if with_body and key in hub.cuts:
                    self.wfile.write(data[: hub.cuts[key]])
                    self.close_connection = True
                elif with_body:
                    self.wfile.write(data)

            def do_HEAD(self) -> None:
                self._answer(with_body=False)

            def do_GET(self) -> None:
                self._answer(with_body=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, repo: str, filename: str, data: bytes, *, cut_after: int | None = None) -> None:
        self.files[(repo, filename)] = data
        if cut_after is not None:
            self.cuts[(repo, filename)] = cut_after

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
