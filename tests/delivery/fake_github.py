"""Tiny in-test fakes: a GitHub REST API answering from a table, and git smart HTTP with auth.

GitHub's API is one of the two things the project may fake. The git server runs the real
``git http-backend`` behind a check of the ``Authorization`` header, answering 401 otherwise,
as github.com does.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

Routes = dict[tuple[str, str], tuple[int, Any]]


@dataclass
class Recorder:
    """Requests the fake received: ``(method, path with query, json body)``."""

    calls: list[tuple[str, str, Any]] = field(default_factory=list)


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def github_api(routes: Routes, recorder: Recorder | None = None) -> Iterator[str]:
    """Answer ``(METHOD, path)`` (query string ignored) from ``routes``; 404 otherwise."""
    seen = recorder or Recorder()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            seen.calls.append((self.command, self.path, body))
            path = urlsplit(self.path).path
            status, payload = routes.get((self.command, path), (404, {"message": "Not Found"}))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = _answer  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    with serve(Handler) as url:
        yield url


@contextmanager
def git_server(project_root: Path, token: str) -> Iterator[str]:
    """``git http-backend`` for the bare repositories under ``project_root``; pushes need
    ``Authorization: basic base64(x-access-token:<token>)`` (fetches too)."""
    expected = "basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            if (self.headers.get("Authorization") or "").lower() != expected.lower():
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            env = {
                **os.environ,
                "GIT_PROJECT_ROOT": str(project_root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": parts.path,
                "QUERY_STRING": parts.query,
                "REQUEST_METHOD": self.command,
                "CONTENT_TYPE": self.headers.get("Content-Type") or "",
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_USER": "x-access-token",
            }
            done = subprocess.run(
                ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
            )
            head, _, payload = done.stdout.partition(b"\r\n\r\n")
            status = 200
            headers = []
            for line in head.decode().split("\r\n"):
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                elif name:
                    headers.append((name, value.strip()))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    with serve(Handler) as url:
        yield url
