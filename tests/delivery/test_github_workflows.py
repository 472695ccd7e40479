"""The GitHub workflows' triggers, guards and commands (their security is linted elsewhere)."""

from __future__ import annotations

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
        assert f"pipelines deploy --env {env} " in job["steps"][-1]["run"]


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
