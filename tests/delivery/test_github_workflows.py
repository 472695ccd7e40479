"""The GitHub workflows' triggers, guards and commands (their security is linted elsewhere)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT

FOLDER = REPO_ROOT / ".github" / "workflows"
NAMES = ["ci", "data", "train", "promote", "deploy", "feature-health", "rollback"]


def load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((FOLDER / f"{name}.yml").read_text())
    doc["on"] = doc.pop(True)  # YAML 1.1 reads the key `on` as true
    return doc


@pytest.mark.parametrize("name", NAMES)
def test_read_nothing_by_default_and_steps_call_project_commands(name: str) -> None:
    doc = load(name)
    assert doc["permissions"] == {}
    for job in doc["jobs"].values():
        assert "permissions" in job and job.get("timeout-minutes")
        for step in job["steps"]:
            run = step.get("run")
            if run:
                assert run.startswith(("make ", "./.ci/run", ".venv/bin/")), run
                assert "${{" not in run


def test_schedules_follow_the_specification() -> None:
    assert load("data")["on"]["schedule"] == [{"cron": "0 2 * * *"}]
    assert load("train")["on"]["schedule"] == [{"cron": "0 3 * * 0"}]
    assert load("feature-health")["on"]["schedule"] == [{"cron": "0 * * * *"}]


def test_deploys_run_per_environment_behind_environments() -> None:
    doc = load("deploy")
    assert doc["on"]["push"] == {"branches": ["main"], "paths": ["environments/**"]}
    for env in ("dev", "staging", "prod"):
        job = doc["jobs"][f"deploy-{env}"]
        assert job["environment"] == env
        assert job["concurrency"] == {"group": f"deploy-{env}", "cancel-in-progress": False}
        assert job["permissions"]["id-token"] == "write"
        runs = {s.get("id"): s.get("run", "") for s in job["steps"]}
        assert f"pipelines deploy --env {env} " in runs["deploy"]
        event = next(s for s in job["steps"] if "monitor event" in s.get("run", ""))
        assert event["if"].startswith("always() && ")
        assert f"--kind deployment --env {env} " in event["run"]
        assert "steps.deploy.outcome" in event["env"]["STATUS"]


def test_rollback_is_manual_and_dispatched_by_the_deploy_exit_handler() -> None:
    triggers = load("rollback")["on"]
    assert "workflow_dispatch" in triggers
    assert triggers["repository_dispatch"] == {"types": ["rollback"]}
    template = yaml.safe_load((REPO_ROOT / "deploy/argo/deploy.yaml").read_text())
    handler = next(t for t in template["spec"]["templates"] if t["name"] == "exit-handler")
    steps = [s for group in handler["steps"] for s in group]
    step = next(s for s in steps if s["template"] == "dispatch-rollback")
    assert step["when"] == "{{workflow.status}} != Succeeded"


def test_writes_are_granted_per_job_only() -> None:
    for name in NAMES:
        for job_id, job in load(name)["jobs"].items():
            writes = {k for k, v in job["permissions"].items() if v == "write"}
            if "contents" in writes:
                assert any(
                    s.get("with", {}).get("persist-credentials") is True for s in job["steps"]
                ), f"{name}.{job_id} pushes, so it keeps the checkout credentials"


@pytest.mark.parametrize(("pipeline", "workflow"), [("data", "data"), ("training", "train")])
def test_batch_pipelines_record_their_outcome(pipeline: str, workflow: str) -> None:
    steps = next(iter(load(workflow)["jobs"].values()))["steps"]
    mark = next(s for s in steps if "monitor mark" in s.get("run", ""))
    assert mark["if"] == "always()"
    assert mark["run"].endswith(f'--pipeline {pipeline} --status "$STATUS"')
    assert mark["env"]["STATUS"] == "${{ job.status == 'success' && 'success' || 'failure' }}"
    later = steps[steps.index(mark) + 1 :]
    assert all(s.get("if") == "always()" for s in later if "run" in s)


def test_promotion_is_recorded_when_a_pull_request_was_opened() -> None:
    steps = load("promote")["jobs"]["promote"]["steps"]
    promote = next(s for s in steps if s.get("id") == "promote")
    event = next(s for s in steps if "monitor event" in s.get("run", ""))
    assert "--kind promotion" in event["run"] and steps.index(event) > steps.index(promote)
    assert event["if"] == "steps.promote.outputs.status == 'created'"


@pytest.mark.parametrize(("code", "expected"), [(0, 0), (10, 0), (20, 20), (2, 2)])
def test_feature_health_warning_passes_visibly_and_critical_fails(
    tmp_path: Path, code: int, expected: int
) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    steps = load("feature-health")["jobs"]["health"]["steps"]
    script = next(s["run"] for s in steps if "monitor health" in s.get("run", ""))
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text(f'#!/bin/sh\necho "python $*"\nexit {code}\n')
    fake.chmod(0o755)
    summary = tmp_path / "summary.md"
    # GitHub runs `run:` with `bash -e {0}`.
    done = subprocess.run(  # noqa: S603
        [bash, "-e", "-c", script],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "GITHUB_STEP_SUMMARY": str(summary)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == expected, done.stdout + done.stderr
    assert "python -m pipelines monitor health" in done.stdout
    warned = "::warning title=Feature health::" in done.stdout
    assert warned == (code == 10)
    assert summary.exists() == (code == 10)
