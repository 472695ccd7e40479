"""The Makefile installs from the lock with uv, and has the targets README and CI use."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

TARGETS = ("setup", "lock", "run", "test", "lint", "pytest", "e2e", "twin", "twin-down", "tools")


def make_dry_run(*args: str, tmp_path: Path) -> str:
    """``make -n`` as on a fresh clone: no venv and no uv yet (fresh paths)."""
    env = {**os.environ, "MAKEFLAGS": ""}
    proc = subprocess.run(
        ["make", "-n", f"VENV={tmp_path}/venv", f"TOOLS_DIR={tmp_path}/tools", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_documented_targets_exist() -> None:
    text = (REPO_ROOT / "Makefile").read_text()
    for target in TARGETS:
        assert re.search(rf"^{re.escape(target)}:", text, re.MULTILINE), target
    assert re.search(r"^test: lint pytest e2e\b", text, re.MULTILINE)
    for var in ("DO_NOT_TRACK", "MLFLOW_DISABLE_TELEMETRY", "DVC_NO_ANALYTICS"):
        assert re.search(rf"^export {var} :=", text, re.MULTILINE), var


def test_setup_bootstraps_uv_from_its_hashed_lock_and_syncs_the_dev_lock(tmp_path: Path) -> None:
    commands = make_dry_run("setup", tmp_path=tmp_path)
    lines = [line for line in commands.splitlines() if line.strip()]
    bootstrap = next(i for i, line in enumerate(lines) if "pip install" in line)
    assert "--require-hashes" in commands and "requirements/uv.txt" in commands
    sync = next(i for i, line in enumerate(lines) if "uv pip sync" in line)
    assert bootstrap < sync
    assert f"{tmp_path}/tools/uv/bin/uv pip sync --python {tmp_path}/venv/bin/python" in lines[sync]
    assert lines[sync].endswith("requirements/dev.txt")
    project = next(line for line in lines if "uv pip install" in line)
    assert "--no-deps" in project and "--build-constraints requirements/build.txt" in project
    assert "--quiet" not in lines[sync]  # the long step shows progress
    assert "pip install --quiet" not in commands


def test_side_venvs_install_from_their_own_locks(tmp_path: Path) -> None:
    commands = make_dry_run(f"{tmp_path}/tools/checkov/.installed", tmp_path=tmp_path)
    assert "requirements/side/checkov.txt" in commands and "uv pip sync" in commands


@pytest.mark.parametrize("target", ["twin", "twin-down", "e2e"])
def test_twin_targets_run_the_twin_cli(target: str, tmp_path: Path) -> None:
    expected = {"twin": "-m twin up", "twin-down": "-m twin down", "e2e": "-m twin e2e"}[target]
    assert expected in make_dry_run(target, tmp_path=tmp_path)


def test_ci_installs_the_system_packages_then_runs_make_test() -> None:
    script = (REPO_ROOT / ".ci" / "run").read_text()
    for package in (
        "postgresql",
        "prometheus",
        "prometheus-pushgateway",
        "prometheus-alertmanager",
        "shellcheck",
    ):
        assert re.search(rf"\b{re.escape(package)}\b", script), package
    assert "apt-get install" in script and "sudo" in script
    assert script.rstrip().endswith("make test")
