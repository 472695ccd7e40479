"""Fixtures of the data tests: a project folder with its own params, a local moto S3 server."""

from __future__ import annotations

from collections.abc import Callable
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
