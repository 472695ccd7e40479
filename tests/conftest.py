"""Shared test helpers: the repository root, tool lookup that fails in CI, no telemetry."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"

os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def require_tool(name: str, env_var: str | None = None) -> str:
    """Return the path of an external tool; skip locally when missing, fail under CI=true.

    Args:
        name: Executable name looked up on PATH.
        env_var: Environment variable that may hold an explicit path (checked first).
    """
    explicit = os.environ.get(env_var) if env_var else None
    found = explicit if explicit and Path(explicit).exists() else shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed (make tools installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the repository (CI has it)."""
    return SHARED


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1, stopped by its PID at the end of the session."""
    port = free_port()
    env = {**os.environ, "DO_NOT_TRACK": "true"}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("moto server did not start")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials for moto (never real ones)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def s3_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The session's moto server as the default S3 endpoint (AWS_ENDPOINT_URL), dummy creds."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return moto_server


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the files that hold slow tests first (test order within a file is kept).

    ``make pytest`` runs two workers, one file at a time each: a long end-to-end file that starts
    last leaves the other worker idle at the end.
    """
    del config
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)
