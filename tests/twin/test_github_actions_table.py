"""The ``uses:`` table, runners, schedules and cancellation, run by the server from fixture YAML."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.twin.test_github_server import Twin, start_twin

pytestmark = pytest.mark.slow
ROLE = "arn:aws:iam::123456789012:role/gitops-data"


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    uv = tmp_path_factory.mktemp("tools") / "uv"
    uv.write_text('#!/bin/sh\necho "uv 0.9.9 (twin stand-in)"\n')
    uv.chmod(0o755)
    for running in start_twin(tmp_path_factory):
        running.client.configure(
            runner={"tools": {"uv": str(uv)}},
            variables={"AWS_ROLE_ARN": ROLE, "AWS_REGION": "us-east-1"},
            aws={
                "region": "us-east-1",
                "endpoint_url": "http://127.0.0.1:9/moto",
                "roles": {ROLE: ["repo:trading-pipelines/gitops:environment:data"]},
            },
        )
        yield running


def jobs_of(twin: Twin, workflow: str) -> dict[str, dict]:
    (run,) = twin.client.wait_event(twin.client.dispatch_workflow(workflow)["id"], 60)
    return {job["key"]: job for job in run["jobs"]}


def first_error(job: dict) -> str:
    return str(next(a["message"] for a in job["annotations"] if a["level"] == "error"))


def test_configure_aws_credentials_checks_role_subject_and_permission(twin: Twin) -> None:
    jobs = jobs_of(twin, "aws.yml")
    assert jobs["allowed"]["conclusion"] == "success", first_error(jobs["allowed"])
    assert jobs["allowed"]["labels"] == [
        "trading-platform"
    ]  # an actions-runner-controller scale set
    assert "id-token` permission" in first_error(jobs["no-id-token"])
    assert first_error(jobs["untrusted-environment"]).endswith(
        f"({ROLE} does not trust repo:trading-pipelines/gitops:environment:training)"
    )
    assert "role-to-assume is empty" in first_error(jobs["empty-role"])


def test_setup_python_runners_and_the_docker_actions(twin: Twin) -> None:
    jobs = jobs_of(twin, "tools.yml")
    assert jobs["python"]["conclusion"] == "success", first_error(jobs["python"])
    assert jobs["uv"]["conclusion"] == "success", twin.client.step_log(jobs["uv"]["run_id"], "uv")
    assert "the twin's runner image has Python 3.11" in first_error(jobs["wrong-python"])
    assert "unauthorized (no docker/login-action to ghcr.io in this job)" in first_error(
        jobs["push-without-login"]
    )
    assert "denied: denied" in first_error(jobs["login-with-a-bad-password"])
    assert "No runner matches labels ['self-hosted', 'gpu']" in first_error(jobs["no-runner"])


def test_artifact_conflicts_missing_files_and_bad_command_files(twin: Twin) -> None:
    jobs = jobs_of(twin, "files.yml")
    assert jobs["artifacts"]["conclusion"] == "success", first_error(jobs["artifacts"])
    messages = [a["message"] for a in jobs["artifacts"]["annotations"]]
    assert any("(409) Conflict" in m for m in messages)
    assert any("No files were found with the provided path: missing/" in m for m in messages)
    assert "invalid format 'neither a name-value pair nor a heredoc'" in first_error(
        jobs["bad-output"]
    )


def test_schedule_fired_by_the_twin(twin: Twin) -> None:
    event = twin.client.fire_schedule("nightly.yml")
    (run,) = twin.client.wait_event(event["id"], 30)
    assert (run["event"], run["conclusion"]) == ("schedule", "success"), twin.client.step_log(
        run["id"]
    )
    assert {s["workflow"] for s in event["skipped"]} >= {".github/workflows/pipeline.yml"}


def test_cancel_a_run_through_the_api(twin: Twin, tmp_path: Path) -> None:
    event = twin.client.dispatch_workflow("serial.yml", inputs={"flag": str(tmp_path / "never")})
    run_id = event["runs"][0]

    def step_started() -> bool:
        # The job's record exists before its first step starts; a cancel in between skips the
        # step instead of cancelling it (as on GitHub), which is not what this test is about.
        jobs = twin.client.run(run_id)["jobs"]
        return bool(jobs and jobs[0]["steps"] and jobs[0]["steps"][0]["status"] == "in_progress")

    twin.client.wait_for("the step to start", step_started, 15)
    assert twin.client.api("POST", f"/actions/runs/{run_id}/cancel").status_code == 202
    run = twin.client.wait_run(run_id, 15)
    assert run["conclusion"] == "cancelled"
    assert run["jobs"][0]["steps"][0]["conclusion"] == "cancelled"
    assert twin.client.api("POST", f"/actions/runs/{run_id}/cancel").status_code == 409
    listed = twin.client.runs("serial.yml", status="cancelled")
    assert run_id in [r["id"] for r in listed]


def test_job_level_concurrency_replaces_the_pending_job(twin: Twin, tmp_path: Path) -> None:
    flag = tmp_path / "release"
    client = twin.client

    def dispatch() -> int:
        return int(
            client.dispatch_workflow("serial-job.yml", inputs={"flag": str(flag)})["runs"][0]
        )

    def deploy_status(run_id: int) -> str | None:
        jobs = [j for j in client.run(run_id)["jobs"] if j["key"] == "deploy"]
        return jobs[0]["status"] if jobs else None

    first = dispatch()
    client.wait_for(
        "the first deploy job to run", lambda: deploy_status(first) == "in_progress", 15
    )
    second = dispatch()
    client.wait_for("the second deploy job to wait", lambda: deploy_status(second) == "pending", 15)
    third = dispatch()
    replaced = client.wait_run(second, 15)
    assert replaced["conclusion"] == "cancelled"
    assert [(j["key"], j["conclusion"]) for j in replaced["jobs"]] == [
        ("deploy", "cancelled"),
        ("after", "skipped"),
    ]
    assert (
        "higher priority waiting request for deploy-main"
        in replaced["jobs"][0]["annotations"][0]["message"]
    )
    flag.touch()
    assert client.wait_run(first, 15)["conclusion"] == "success"
    assert client.wait_run(third, 15)["conclusion"] == "success"
