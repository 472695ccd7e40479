"""The twin's repository settings: the runner image's tools."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import REPO_ROOT
from twin.github.actions_setup import machine_uv
from twin.repo_settings import runner_tools


def test_the_runner_offers_the_locked_uv_the_twin_was_set_up_with() -> None:
    # As setup-uv finds it: the configured tool, else PATH.
    uv = machine_uv(runner_tools().get("uv"))
    assert uv, "no uv for astral-sh/setup-uv: make setup bootstraps .tools/uv"
    printed = subprocess.run([uv, "--version"], capture_output=True, text=True, check=True)  # noqa: S603
    lock = (REPO_ROOT / "requirements" / "uv.txt").read_text(encoding="utf-8")
    assert f"uv=={printed.stdout.split()[1]} " in lock


def test_a_bootstrapped_uv_is_the_tool_and_none_is_no_tool(tmp_path: Path) -> None:
    assert runner_tools(tmp_path) == {}
    uv = tmp_path / ".tools" / "uv" / "bin" / "uv"
    uv.parent.mkdir(parents=True)
    uv.write_text("#!/bin/sh\n")
    assert runner_tools(tmp_path) == {"uv": str(uv)}
