"""Start, watch and stop the twin's processes: each in its own session, stopped by its PID.

Readiness is always a condition polled against a deadline (an HTTP answer, an open port, a
process exit), never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx

from twin.errors import TwinError

POLL_SECONDS = 0.1


# Below Linux's ephemeral range (32768-60999): a port picked here is not handed out a moment
# later to some process's outgoing connection, which port 0 allocation invites.
_PORT_RANGE = (20000, 32000)


_HANDED_OUT: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (outside the ephemeral range).

    Never the same port twice in one process: ports are picked before their servers bind
    them, so a second pick could otherwise return a port that is free only for now.
    """
    for _ in range(50):
        port = random.randrange(*_PORT_RANGE)  # noqa: S311 - not a secret
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            _HANDED_OUT.add(port)
            return port
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: int | None = None,
    group: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session with stdout and stderr appended to ``<log_dir>/<name>.log``.

    Args:
        name: Short name, used for the log file and in error messages.
        argv: The command.
        log_dir: Folder of the log files.
        env: Full environment (default: this process's).
        cwd: Working directory.
        user: Run as this uid (only when this process is root).
        group: Run as this gid (only when this process is root).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"{name}.log").open("ab") as log:
        try:
            return subprocess.Popen(  # noqa: S603 - argv is built by the twin, never a shell string
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                user=user,
                group=group,
            )
        except OSError as exc:
            raise TwinError(f"{name}: cannot start {argv[0]} ({exc.strerror})") from None


def log_tail(log_dir: Path, name: str, lines: int = 5) -> str:
    """The last lines of a process's log, for error messages."""
    path = log_dir / f"{name}.log"
    if not path.exists():
        return "(no log)"
    text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return " | ".join(text[-lines:]) or "(empty log)"


def wait_until(
    what: str,
    condition: Callable[[], bool],
    *,
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
    on_fail: Callable[[], str] | None = None,
) -> None:
    """Poll ``condition`` until it is true; fail when ``proc`` exits or the deadline passes.

    Raises:
        TwinError: Naming ``what`` and, through ``on_fail``, the evidence (a log tail).
    """
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if condition():
                return
        detail = f": {on_fail()}" if on_fail else ""
        if proc is not None and proc.poll() is not None:
            raise TwinError(f"{what}: process exited with status {proc.returncode}{detail}")
        if time.monotonic() >= deadline:
            raise TwinError(f"{what}: not ready after {timeout:.0f}s{detail}")
        time.sleep(POLL_SECONDS)


def http_ok(url: str, expect: Sequence[int] = (200,)) -> Callable[[], bool]:
    """A condition: GET ``url`` answers with one of ``expect``."""

    def check() -> bool:
        return httpx.get(url, timeout=2.0).status_code in expect

    return check


def tcp_open(host: str, port: int) -> Callable[[], bool]:
    """A condition: a TCP connection to ``host:port`` succeeds."""

    def check() -> bool:
        socket.create_connection((host, port), timeout=1.0).close()
        return True

    return check


def alive(pid: int) -> bool:
    """Whether a process with this PID exists (and is not a zombie we own)."""
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has exited but is not reaped yet (another parent, e.g. a slow init)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    # The state letter follows the command name, which is in parentheses and may hold spaces.
    return stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] == "Z"


def stop(pid: int, *, timeout: float = 15.0, sig: int = signal.SIGTERM) -> None:
    """Stop the process group led by ``pid``: ``sig`` first, SIGKILL after ``timeout``."""
    for signum in (sig, signal.SIGKILL):
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            return
        except PermissionError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive(pid):
                return
            time.sleep(POLL_SECONDS)
