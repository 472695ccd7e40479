"""``python -m podapp serve``: /healthz, /whoami, /env/NAME, /greeting, /write-cwd.

On SIGTERM it appends ``term`` to the file ``$TERM_MARKER`` (when set) and exits 0.
"""

import argparse
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/healthz":
            body = b"ok"
        elif self.path == "/whoami":
            body = json.dumps(
                {"uid": os.getuid(), "groups": os.getgroups(), "cwd": os.getcwd()}
            ).encode()
        elif self.path.startswith("/env/"):
            body = os.environ.get(self.path[5:], "").encode()
        elif self.path == "/greeting":
            body = Path("greeting.txt").read_bytes()
        elif self.path == "/write-cwd":
            try:
                Path("written.txt").write_text("x")
                body = b"written"
            except PermissionError:
                body = b"denied"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


def main() -> int:
    parser = argparse.ArgumentParser(prog="podapp")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    server = HTTPServer((args.host, args.port), Handler)

    def stop(signum: int, frame: object) -> None:
        marker = os.environ.get("TERM_MARKER")
        if marker:
            with open(marker, "a") as handle:
                handle.write("term\n")
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
