"""Fixtures of the infrastructure tests: a fresh PostgreSQL server (the twin's own start/stop)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_tool


@pytest.fixture
def postgres() -> Iterator[str]:
    """A fresh PostgreSQL, stopped by its PID at the end, as its superuser's URL of ``mlflow``."""
    require_tool("pg_dump")
    from twin import postgres as pg
    from twin import procs

    try:
        pg.bin_dir()
    except Exception as exc:  # noqa: BLE001 - no server binaries on this machine
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL server: {exc}")
        pytest.skip(f"PostgreSQL server: {exc}")
    # The server may run as another user: its home must be world-traversable.
    home = Path(tempfile.mkdtemp(prefix="dr-pg-", dir="/tmp"))
    home.chmod(0o755)
    process, info = pg.start(home, home)
    try:
        procs.wait_until("postgres", lambda: pg.accepts_connections(info), timeout=60, proc=process)
        yield f"postgresql://postgres:{info.superuser_password}@127.0.0.1:{info.port}/mlflow"
    finally:
        pg.stop(info.data_dir, process.pid)
        shutil.rmtree(home, ignore_errors=True)
