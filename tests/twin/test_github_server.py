"""The fake GitHub end to end: fixture workflows run by the server from their own YAML.

One server per module (``python -m twin github-serve``), seeded with the workflows of
``tests/fixtures/workflows`` and an ``app/`` folder; stopped by its PID at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from twin import state
from twin.github.client import GitHubTwinClient
from twin.github.seed import seed
from twin.github.server import start
from twin.github.stepexec import HOSTED_NICENESS
from twin.procs import alive, stop

PARTS = ("workspace", "home", "temp", "tools", "file_commands")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "workflows"
pytestmark = pytest.mark.slow


def git(cwd: Path, *args: str) -> str:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
    }
    ident = ["-c", "user.name=Person", "-c", "user.email=person@example.invalid"]
    proc = subprocess.run(
        ["git", *ident, *args], cwd=cwd, capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout + proc.stderr


def make_source(folder: Path) -> Path:
    (folder / ".github" / "workflows").mkdir(parents=True)
    for path in FIXTURES.glob("*.yml"):
        shutil.copy(path, folder / ".github" / "workflows" / path.name)
    (folder / "app").mkdir()
    (folder / "app" / "VERSION").write_text("1.2.3\n")
    (folder / "README.md").write_text("fixture repository\n")
    git(folder, "init", "-q", "--initial-branch=main")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "fixture")
    return folder


@dataclass
class Twin:
    home: Path
    client: GitHubTwinClient
    record: dict[str, str]

    def clone(self, dest: Path, token: str | None = None) -> Path:
        url = self.record["git_url"].replace(
            "http://", f"http://x-access-token:{token or self.client.token}@"
        )
        git(dest.parent, "clone", "-q", url, dest.name)
        return dest


def start_twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    home = tmp_path_factory.mktemp("home")
    seed(home, make_source(tmp_path_factory.mktemp("source")), lambda folder: [])
    record = start(home)
    try:
        yield Twin(home, GitHubTwinClient.from_home(home), record)
    finally:
        stop(int(record["pid"]))
    assert not alive(int(record["pid"]))
    assert "github" not in state.load(home)["services"]


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    yield from start_twin(tmp_path_factory)


def test_push_runs_the_three_job_pipeline(twin: Twin, tmp_path: Path) -> None:
    work = twin.clone(tmp_path / "work")
    (work / "README.md").write_text("docs only\n")
    git(work, "commit", "-qam", "docs")
    git(work, "push", "-q", "origin", "main")
    docs_event = twin.client.events(event="push")[-1]
    assert docs_event["runs"] == []
    assert {
        "workflow": ".github/workflows/pipeline.yml",
        "reason": "no changed file matches paths ['app/**', '.github/workflows/pipeline.yml']",
    } in docs_event["skipped"]

    (work / "app" / "CHANGES").write_text("a change\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "Change the app")
    started = time.monotonic()
    git(work, "push", "-q", "origin", "main")
    event = twin.client.events(event="push")[-1]
    (run,) = twin.client.wait_event(event["id"], 60)
    wall = time.monotonic() - started
    sys.stdout.write(f"\n3-job fixture pipeline: {wall:.2f}s from push to completed\n")

    assert (run["path"], run["event"], run["display_title"]) == (
        ".github/workflows/pipeline.yml",
        "push",
        "Change the app",
    )
    assert run["conclusion"] == "failure"  # the test job fails on purpose
    jobs = {job["key"]: job for job in run["jobs"]}
    assert jobs["build"]["conclusion"] == "success", twin.client.step_log(run["id"], "build")
    assert jobs["build"]["outputs"] == {"version": "1.2.3", "notes": "line one\nline two"}
    assert jobs["test"]["conclusion"] == "failure"
    assert [s["conclusion"] for s in jobs["test"]["steps"]] == ["success", "success", "failure"]
    assert jobs["test"]["labels"] == ["self-hosted", "linux", "trading-platform"]
    assert jobs["report"]["conclusion"] == "success"
    assert jobs["report"]["summary"] == "build=success test=failure\na dependency failed\n"
    assert jobs["skipped"]["conclusion"] == "skipped"
    checks = twin.client.api("GET", f"/commits/{run['head_sha']}/check-runs").json()["check_runs"]
    assert {c["name"]: c["conclusion"] for c in checks} == {
        "build": "success",
        "test": "failure",
        "report": "success",
        "skipped": "skipped",
    }
    log = twin.client.step_log(run["id"], "build", 3)
    assert "shell: /usr/bin/bash -e {0}" in log
    # A GitHub-hosted job's steps yield the CPU to the platform's (self-hosted) ones.
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert f"niceness={min(19, base + HOSTED_NICENESS)}" in log
    assert f"niceness={base}" in twin.client.step_log(run["id"], "test", 2)
    # As a hosted runner discards its machine, a finished job keeps only its logs and summary.
    folder = Path(run["folder"])
    discarded = [folder / job / part for job in ("build", "test", "report") for part in PARTS]
    deadline = time.monotonic() + 30
    while any(path.exists() for path in discarded) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [path for path in discarded if path.exists()] == []
    kept = sorted(p.name for p in (folder / "report").iterdir())
    assert kept == ["event.json", "logs", "summary.md"]
    assert list((folder / "build" / "logs").glob("*.log"))


def test_workflow_dispatch_inputs_environment_and_masking(twin: Twin) -> None:
    twin.client.configure(
        secrets={"DEPLOY_KEY": "s3cr3t-value"},
        variables={"REGION": "eu-west-1"},
        environments={
            "prod": {"reviewers": ["release-manager"], "variables": {"REGION": "us-east-1"}}
        },
    )
    event = twin.client.dispatch_workflow("dispatch.yml", inputs={"target": "prod", "note": "hi"})
    (run,) = twin.client.wait_event(event["id"], 30)
    assert run["conclusion"] == "success", twin.client.step_log(run["id"])
    assert run["display_title"] == "dispatch to prod"
    (job,) = run["jobs"]
    assert job["environment"] == "prod"
    assert [a["user"] for a in job["approvals"]] == ["release-manager"]
    log = twin.client.step_log(run["id"], "echo", 1)
    assert "target=prod dry=true count=2 note='hi'" in log
    assert "secret=*** var=us-east-1" in log and "s3cr3t-value" not in log
    bad = twin.client.api(
        "POST",
        "/actions/workflows/dispatch.yml/dispatches",
        {"ref": "main", "inputs": {"target": "qa"}},
    )
    assert bad.status_code == 422 and "not in the list of allowed values" in bad.json()["message"]


def test_unknown_action_fails_the_job_naming_it(twin: Twin) -> None:
    event = twin.client.dispatch_workflow("broken.yml")
    (run,) = twin.client.wait_event(event["id"], 30)
    assert run["conclusion"] == "failure"
    (job,) = run["jobs"]
    assert "someone/not-in-the-table" in job["annotations"][0]["message"]
    assert [step["conclusion"] for step in job["steps"]] == ["skipped", "skipped"]


def test_timeouts_kill_the_step_and_cancel_the_job(twin: Twin) -> None:
    started = time.monotonic()
    event = twin.client.dispatch_workflow("slow.yml")
    (run,) = twin.client.wait_event(event["id"], 30)
    assert time.monotonic() - started < 15  # the sleeps of 30 s were killed
    assert run["conclusion"] == "cancelled"
    (job,) = run["jobs"]
    outcomes = [(s["outcome"], s["conclusion"]) for s in job["steps"]]
    assert outcomes == [
        ("failure", "success"),
        ("cancelled", "cancelled"),
        ("skipped", "skipped"),
        ("success", "success"),
    ]
    messages = [a["message"] for a in job["annotations"]]
    assert "The action has timed out." in messages
    assert "The job has exceeded the maximum execution time of 3s" in messages
    assert "cleanup ran; cancelled=true" in twin.client.step_log(run["id"], "too-long", 4)


def test_concurrency_keeps_one_running_and_the_newest_pending(twin: Twin, tmp_path: Path) -> None:
    flag = tmp_path / "release"
    first = twin.client.dispatch_workflow("serial.yml", inputs={"flag": str(flag)})["runs"][0]
    second = twin.client.dispatch_workflow("serial.yml", inputs={"flag": str(flag)})["runs"][0]
    twin.client.wait_for(
        "the second run to be pending", lambda: twin.client.run(second)["status"] == "pending", 15
    )
    third = twin.client.dispatch_workflow("serial.yml", inputs={"flag": str(flag)})["runs"][0]
    replaced = twin.client.wait_run(second, 15)
    assert replaced["conclusion"] == "cancelled" and replaced["jobs"] == []
    assert "higher priority waiting request for Serial" in replaced["annotations"][0]["message"]
    assert twin.client.run(first)["status"] == "in_progress"
    assert twin.client.run(third)["status"] == "pending"
    flag.touch()
    assert twin.client.wait_run(first, 15)["conclusion"] == "success"
    assert twin.client.wait_run(third, 15)["conclusion"] == "success"
