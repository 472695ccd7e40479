"""Fixtures of the data tests: a project folder with its own params, a local moto S3 server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.cli import main as cli_main

RunCli = Callable[..., tuple[int, list[str]]]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder used as the working directory (params paths are relative)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def make_params(project: Path) -> Callable[..., str]:
    """Write ``params.yaml`` in the project with the given sections; return its path."""

    def write(**sections: Any) -> str:
        path = project / "params.yaml"
        path.write_text(yaml.safe_dump(sections), encoding="utf-8")
        return str(path)

    return write


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    """Run ``pipelines ...`` in-process; return the exit status and the stderr ``error:`` lines."""

    def run(*argv: str) -> tuple[int, list[str]]:
        code = cli_main(list(argv))
        err = capsys.readouterr().err
        return code, [line for line in err.splitlines() if line.startswith("error")]

    return run


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
