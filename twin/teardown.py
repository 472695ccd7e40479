"""Stop the twin: every process registered in ``state.json``, by PID, until its port is free.

Anything registered that is not one of the twin's own servers (pods, runners of other areas)
stops first; then the servers in the reverse order of their dependencies, PostgreSQL last and
through ``pg_ctl stop -m fast``. ``state.json`` is removed at the end.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from twin import postgres, procs, state

# Stopped first to last; anything else registered (pods, runners) goes before all of these.
STOP_ORDER = (
    "cluster",
    "github",
    "mlflow",
    "prometheus",
    "alertmanager",
    "pushgateway",
    "sink",
    "moto",
    "postgres",
)


def running(home: Path) -> dict[str, dict[str, Any]]:
    """Registered services whose process is alive."""
    services: dict[str, dict[str, Any]] = state.load(home)["services"]
    return {
        n: s for n, s in services.items() if isinstance(s.get("pid"), int) and procs.alive(s["pid"])
    }


def _address_of(url: str) -> tuple[str, int] | None:
    parsed = urlparse(url)
    if parsed.hostname is None or parsed.port is None:
        return None
    return parsed.hostname, parsed.port


def down(home: Path, quiet: bool = False) -> list[str]:
    """Stop every registered process by its PID (process group), wait for its port; names."""
    services: dict[str, dict[str, Any]] = state.load(home)["services"]
    order = [n for n in services if n not in STOP_ORDER] + [n for n in STOP_ORDER if n in services]
    stopped: list[str] = []
    for name in order:
        record = services[name]
        pid = record.get("pid") if isinstance(record.get("pid"), int) else None
        if name == "postgres" and record.get("data_dir"):
            postgres.stop(Path(record["data_dir"]), pid)
        elif pid is not None:
            procs.stop(pid)
        address = _address_of(str(record.get("url", "")))
        if address is not None:
            host, port = address
            procs.wait_until(
                f"{name}: {host}:{port} to be free",
                _freed(host, port),
                timeout=30,
            )
        state.unregister(home, name)
        stopped.append(name)
        if not quiet:
            sys.stdout.write(f"twin: stopped {name}\n")
    (home / state.STATE_FILE).unlink(missing_ok=True)
    return stopped


def _freed(host: str, port: int) -> Callable[[], bool]:
    """A condition: nothing listens on ``host:port`` any more."""
    return lambda: not _listening(host, port)


def _listening(host: str, port: int) -> bool:
    try:
        procs.tcp_open(host, port)()
    except OSError:
        return False
    return True
