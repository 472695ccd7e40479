"""The twin's repository settings: the runner image's tools."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from twin.github.actions_setup import machine_uv
from twin.repo_settings import runner_env, runner_tools


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


def _dry_sync(tmp_path: Path, lock: Path) -> subprocess.CompletedProcess[str]:
    """``uv pip sync --dry-run`` of ``lock`` into a fresh venv with the runner image's env."""
    uv = machine_uv(runner_tools().get("uv"))
    assert uv, "no uv: make setup bootstraps .tools/uv"
    env = {**os.environ, **runner_env(), "UV_PYTHON_DOWNLOADS": "never"}
    venv = tmp_path / "venv"
    subprocess.run(  # noqa: S603 - the machine's own uv
        [uv, "venv", "--quiet", "--python", "python3.11", str(venv)], env=env, check=True
    )
    return subprocess.run(  # noqa: S603
        [uv, "pip", "sync", "--dry-run", "--python", str(venv / "bin" / "python"), str(lock)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.timeout(120)
def test_the_runner_installs_the_whole_dev_lock_offline_from_its_cache(tmp_path: Path) -> None:
    # Every job's `make setup` syncs requirements/dev.txt with the runner's env (UV_OFFLINE).
    assert runner_env()["UV_OFFLINE"] == "1"
    done = _dry_sync(tmp_path, REPO_ROOT / "requirements" / "dev.txt")
    assert done.returncode == 0, done.stderr
    assert "Would install" in done.stderr + done.stdout


@pytest.mark.timeout(120)
def test_a_package_missing_from_the_runner_cache_fails_naming_it(tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text("twin-not-a-cached-package==1.0\n", encoding="utf-8")
    done = _dry_sync(tmp_path, lock)
    assert done.returncode != 0
    assert "twin-not-a-cached-package" in done.stderr
    assert "network was disabled" in done.stderr
