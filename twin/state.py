"""The twin's state file (``<home>/state.json``): what runs, by PID, and where it listens.

Every process of the twin registers here, so ``python -m twin down`` can stop exactly what was
started. Writes are atomic and serialised with a lock file (several twin processes write).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipelines.io import atomic

STATE_FILE = "state.json"


def default_home(root: Path) -> Path:
    """``$TWIN_HOME`` or ``<root>/.twin``."""
    return Path(os.environ.get("TWIN_HOME") or root / ".twin").resolve()


@contextmanager
def _locked(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    with (home / "state.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load(home: Path) -> dict[str, Any]:
    """The state (``{"services": {}, "env": {}}`` when nothing was started)."""
    path = home / STATE_FILE
    if not path.exists():
        return {"services": {}, "env": {}}
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    doc.setdefault("services", {})
    doc.setdefault("env", {})
    return doc


def register(home: Path, name: str, **info: Any) -> None:
    """Record service ``name``: its ``pid``, ``url`` and anything else useful.

    A record of the same pid is merged (the spawner and the process itself both register, in
    either order); a record of another pid is replaced.
    """
    with _locked(home):
        doc = load(home)
        before = doc["services"].get(name) or {}
        merged = {**before, **info} if before.get("pid") == info.get("pid") else info
        doc["services"][name] = merged
        atomic.write_json(home / STATE_FILE, doc)


def unregister(home: Path, name: str) -> None:
    """Forget service ``name`` (after it was stopped)."""
    with _locked(home):
        doc = load(home)
        doc["services"].pop(name, None)
        atomic.write_json(home / STATE_FILE, doc)


def set_env(home: Path, **values: str) -> None:
    """Record environment variables a client of the twin needs (endpoints, credentials)."""
    with _locked(home):
        doc = load(home)
        doc["env"].update(values)
        atomic.write_json(home / STATE_FILE, doc)


def service(home: Path, name: str) -> dict[str, Any]:
    """One registered service's record.

    Raises:
        KeyError: When ``name`` is not running (the caller turns it into a TwinError).
    """
    return dict(load(home)["services"][name])
