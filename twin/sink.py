"""The webhook sink: records every Alertmanager notification, for people and for waiting code.

``POST /receiver/<name>`` appends one JSON line (``received_at`` epoch seconds, ``receiver``,
``payload``: Alertmanager's webhook body) to the notifications file; ``GET /notifications``
returns them all as a JSON list (``?receiver=<name>`` filters); ``GET /healthz`` answers 200.
Run as ``python -m twin.sink --port P --out FILE``; :func:`wait_for` polls it from code.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

from twin.errors import TwinError

MAX_BODY = 4 * 1024 * 1024
Notification = dict[str, Any]


class Recorder:
    """Appends notifications to a JSON-lines file and reads them back (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    def record(self, receiver: str, payload: Any) -> Notification:
        """Store one notification with its receive time."""
        entry = {"received_at": time.time(), "receiver": receiver, "payload": payload}
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
        return entry

    def read(self, receiver: str | None = None) -> list[Notification]:
        """Every notification so far, oldest first (one receiver's when given)."""
        with self._lock:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        entries = [json.loads(line) for line in lines if line.strip()]
        return [e for e in entries if receiver is None or e["receiver"] == receiver]


def make_handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``recorder``."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            path = urlparse(self.path).path
            name = path.removeprefix("/receiver/")
            if not path.startswith("/receiver/") or not name or "/" in name:
                self._answer(404, {"error": "POST /receiver/<name>"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(413, {"error": f"body over {MAX_BODY} bytes"})
                return
            try:
                payload = json.loads(self.rfile.read(length) or b"null")
            except json.JSONDecodeError:
                self._answer(400, {"error": "body is not JSON"})
                return
            recorder.record(name, payload)
            self._answer(200, {"recorded": name})

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlparse(self.path)
            if url.path == "/healthz":
                self._answer(200, {"ok": True})
            elif url.path == "/notifications":
                receiver = parse_qs(url.query).get("receiver", [None])[0]
                self._answer(200, recorder.read(receiver))
            else:
                self._answer(404, {"error": "GET /notifications or /healthz"})

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
            sys.stderr.write(f"sink: {self.address_string()} {format % args}\n")

    return Handler


def notifications(url: str, receiver: str | None = None) -> list[Notification]:
    """The notifications recorded by the sink at ``url``."""
    params = {"receiver": receiver} if receiver else None
    response = httpx.get(f"{url}/notifications", params=params, timeout=5.0)
    response.raise_for_status()
    result: list[Notification] = response.json()
    return result


def alert_names(entry: Notification) -> set[str]:
    """The ``alertname`` labels of one notification's alerts."""
    alerts = (entry.get("payload") or {}).get("alerts") or []
    return {str(a.get("labels", {}).get("alertname")) for a in alerts}


def wait_for(
    url: str,
    match: Callable[[Notification], bool],
    *,
    timeout: float,
    receiver: str | None = None,
) -> Notification:
    """Poll the sink until a notification matches; the first match.

    Raises:
        TwinError: Naming the receiver and what did arrive when the deadline passes.
    """
    deadline = time.monotonic() + timeout
    seen: list[Notification] = []
    while time.monotonic() < deadline:
        seen = notifications(url, receiver)
        for entry in seen:
            if match(entry):
                return entry
        time.sleep(0.2)
    got = sorted({f"{e['receiver']}:{','.join(sorted(alert_names(e)))}" for e in seen})
    raise TwinError(
        f"sink: no matching notification for receiver {receiver or '(any)'} within "
        f"{timeout:.0f}s (received: {got or 'nothing'})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m twin.sink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True, help="notifications JSON-lines file")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(Recorder(args.out)))
    server.daemon_threads = True
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
