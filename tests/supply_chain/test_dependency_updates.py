"""Dependency updates come by pull request; the scheduled audit never passes a skipped audit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml

from pipelines.delivery.lint.workflows import tool
from tests.conftest import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "dependencies.yml"


def audit_step() -> dict[str, str]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    steps = doc["jobs"]["audit"]["steps"]
    return next(s for s in steps if s.get("name") == "Audit every lock file")


def test_renovate_config_is_valid_and_covers_the_lock_and_actions() -> None:
    exe = tool("check-jsonschema")
    assert exe, "check-jsonschema is a dev dependency"
    proc = subprocess.run(
        [exe, "--builtin-schema", "vendor.renovate", str(REPO_ROOT / "renovate.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = json.loads((REPO_ROOT / "renovate.json").read_text())
    patterns = config["pip-compile"]["managerFilePatterns"]
    assert any("requirements/" in p for p in patterns)
    assert "helpers:pinGitHubActionDigests" in config["extends"]
    for lock in (REPO_ROOT / "requirements").rglob("*.txt"):
        header = lock.read_text().splitlines()[1]
        assert header.strip().startswith("#    uv pip compile"), lock  # Renovate re-runs it


def test_audit_workflow_is_scheduled_and_has_no_way_to_pass_silently() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    triggers = doc[True] if True in doc else doc["on"]  # YAML 1.1 reads `on` as true
    assert triggers["schedule"]
    job = doc["jobs"]["audit"]
    assert "continue-on-error" not in job
    assert all("continue-on-error" not in step for step in job["steps"])
    script = audit_step()["run"]
    assert "--strict" in script and "--require-hashes" in script
    assert "requirements/*.txt requirements/side/*.txt" in script


def run_audit(tmp_path: Path, stub_exit: int) -> tuple[int, str, list[str]]:
    """Run the workflow's own audit step with a pip-audit stand-in that exits ``stub_exit``."""
    work = tmp_path / f"run{stub_exit}"
    shutil.copytree(REPO_ROOT / "requirements", work / "requirements")
    stub = work / ".audit" / "bin" / "pip-audit"
    stub.parent.mkdir(parents=True)
    calls = work / "calls.txt"
    stub.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> {calls}\n'
        'echo "pip-audit: Connection error: could not reach the vulnerability service" >&2\n'
        f"exit {stub_exit}\n"
    )
    stub.chmod(0o755)
    summary = work / "summary.md"
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", audit_step()["run"]],
        cwd=work,
        env={**os.environ, "GITHUB_STEP_SUMMARY": str(summary)},
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode, summary.read_text(), calls.read_text().splitlines()


def test_an_unreachable_database_fails_the_audit_and_says_so(tmp_path: Path) -> None:
    code, summary, calls = run_audit(tmp_path, stub_exit=1)
    assert code != 0
    assert "no known vulnerability" not in summary
    assert summary.count("FAILED") == len(calls) > 0


def test_a_clean_audit_covers_every_lock_file(tmp_path: Path) -> None:
    code, summary, calls = run_audit(tmp_path, stub_exit=0)
    locks = sorted(
        p.relative_to(REPO_ROOT).as_posix()
        for p in [
            *(REPO_ROOT / "requirements").glob("*.txt"),
            *(REPO_ROOT / "requirements/side").glob("*.txt"),
        ]
    )
    assert code == 0
    assert sorted(call.split("--requirement ")[1] for call in calls) == locks
    assert all("--strict" in call for call in calls)
    assert summary.count("no known vulnerability") == len(locks)
