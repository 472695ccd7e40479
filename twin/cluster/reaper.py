"""Pod processes outlive nothing: every container PID is recorded, and leftovers are killed.

The cluster deletes its pods when it stops. If it was killed instead (SIGKILL, a crash), the
pods' process groups would run on; so each container's PID is appended to
``<pod folder>/pids`` when it starts, and ``reap`` (called when a cluster starts and after
one stopped) kills every recorded process group that still runs. A PID is only trusted if
the process's environment still carries that pod's ``HOME`` (PIDs get reused).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path

from twin import procs

log = logging.getLogger(__name__)
PIDS_FILE = "pids"
GONE_SECONDS = 30.0


def record(pod_dir: Path, pid: int) -> None:
    """Remember a container process of the pod in ``pod_dir``."""
    with (pod_dir / PIDS_FILE).open("a", encoding="utf-8") as handle:
        handle.write(f"{pid}\n")


def _belongs(pid: int, pod_dir: Path) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"HOME={pod_dir / 'home'}".encode() in environ.split(b"\0")


def reap(home: Path) -> int:
    """Kill the process groups of pods that are still running; returns how many were killed."""
    killed: list[int] = []
    for pids in sorted((home / "cluster" / "pods").glob(f"*/*/{PIDS_FILE}")):
        pod_dir = pids.parent
        for line in pids.read_text(encoding="utf-8").split():
            pid = int(line)
            if _belongs(pid, pod_dir):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                    killed.append(pid)
        pids.unlink(missing_ok=True)
    if killed:
        log.warning("killed %d leftover pod process group(s) under %s", len(killed), home)
        # SIGKILL is delivered asynchronously: return once they are gone, so that a caller
        # (shutdown, the next cluster) finds no pod process left.
        procs.wait_until(
            "killed pod processes gone",
            lambda: not any(procs.alive(pid) for pid in killed),
            timeout=GONE_SECONDS,
        )
    return len(killed)
