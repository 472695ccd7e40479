"""A warm pytest for mutmut: one process imports the heavy libraries once, then forks per run.

mutmut runs the test command once per mutant; a fresh interpreter spends seconds importing
numpy, scipy and pandas before the first test. ``serve`` imports them once, and ``pipelines``
too for the libraries it pulls in, then forgets every ``pipelines`` and ``tests`` module (the
mutant changes them), and listens on a Unix socket. ``run`` (mutmut's runner command) asks it
for one pytest run and exits with pytest's code folded to 0 or 1: a collection error is a
failed run, not a surviving mutant. Each run happens in a forked child, so nothing one mutant
imports is seen by the next, and is bounded by an alarm.

Usage::

    python forkserver.py serve SOCKET WORKDIR   # run.py starts and stops it
    python forkserver.py run SOCKET TEST...     # the runner command given to mutmut
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import socket
import sys

PRELOAD = (
    "numpy",
    "pandas",
    "scipy.stats",
    "scipy.special",
    "yaml",
    "jsonschema",
    "pydantic",
    "exchange_calendars",
    "pytest",
)
# Imported once for the libraries they pull in, then dropped: children import them afresh.
WARM = ("pipelines.config", "pipelines.delivery.promote", "pipelines.monitoring.drift")
# A run that hangs (a mutant looping forever) is ended; mutmut has counted it as timed out.
RUN_LIMIT_SECONDS = int(os.environ.get("MUTATION_RUN_LIMIT", "120"))


def _child(conn: socket.socket, workdir: str, args: list[str]) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the tests wait for their own subprocesses
    signal.alarm(RUN_LIMIT_SECONDS)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.chdir(workdir)
    sys.path.insert(0, workdir)
    import pytest

    try:
        code = int(pytest.main(["-x", "-q", "-p", "no:cacheprovider", *args]))
    except BaseException:  # noqa: BLE001 - any crash of the run is a failed run
        code = 1
    conn.sendall(f"{code}\n".encode())
    conn.close()
    os._exit(0)


def serve(path: str, workdir: str) -> None:
    """Preload, then fork one child per request until killed."""
    for name in PRELOAD + WARM:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    for name in [m for m in sys.modules if m.split(".")[0] in ("pipelines", "tests")]:
        del sys.modules[name]
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(4)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        while True:
            conn, _ = server.accept()
            request = json.loads(conn.makefile("r").readline())
            if os.fork() == 0:
                server.close()
                _child(conn, workdir, list(request["args"]))
            conn.close()


def run(path: str, args: list[str]) -> int:
    """Ask the server for one pytest run; 0 when the tests passed, 1 otherwise."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(path)
        client.sendall((json.dumps({"args": args}) + "\n").encode())
        answer = client.makefile("r").readline().strip()
    return 0 if answer == "0" else 1


if __name__ == "__main__":
    command, sock, *rest = sys.argv[1:]
    if command == "serve":
        serve(sock, rest[0])
    else:
        sys.exit(run(sock, rest))
