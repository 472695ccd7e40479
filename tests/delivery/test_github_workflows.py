"""The GitHub workflows' shape, and their selection scripts run as GitHub runs them.

Security (pins, permissions, injection) is linted by ``pipelines lint`` (zizmor, actionlint);
the commit and push steps run in ``test_workflow_glue.py``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pipelines.delivery.doctor_workflows import load_workflow, read_jobs
from tests.conftest import REPO_ROOT

FOLDER = REPO_ROOT / ".github" / "workflows"
SCRIPTS = REPO_ROOT / ".github" / "scripts"
NAMES = ["ci", "data", "train", "promote", "deploy", "feature-health", "rollback", "image"]
PLATFORM = ["trading-platform"]  # an ARC scale set is targeted by its name alone
PERSON = {"GIT_AUTHOR_NAME": "p", "GIT_AUTHOR_EMAIL": "p@x", "GIT_COMMITTER_NAME": "p"}


def load(name: str) -> dict[str, Any]:
    return load_workflow(FOLDER / f"{name}.yml")


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    env = {**os.environ, **PERSON, "GIT_COMMITTER_EMAIL": "p@x"}
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", message], check=True, env=env)
    out = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path)], check=True)
    (tmp_path / ".github").symlink_to(REPO_ROOT / ".github")
    commit(
        tmp_path, {f"environments/{e}/model.yaml": "model: null\n" for e in ("dev", "prod")}, "0"
    )
    return tmp_path


@pytest.mark.parametrize("name", NAMES)
def test_read_nothing_by_default_and_every_job_is_bounded(name: str) -> None:
    doc = load(name)
    assert doc["permissions"] == {}
    for job in doc["jobs"].values():
        assert "permissions" in job and job.get("timeout-minutes")
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), "pass expressions through env:"


def test_platform_jobs_run_in_the_vpc_behind_their_own_environment() -> None:
    jobs = read_jobs(FOLDER)
    platform = {(j.workflow, j.job): j for j in jobs if j.runs_on == PLATFORM}
    assert set(platform) == {
        ("data.yml", "data"),
        ("train.yml", "train"),
        ("promote.yml", "promote"),
        ("deploy.yml", "deploy-dev"),
        ("deploy.yml", "deploy-staging"),
        ("deploy.yml", "deploy-prod"),
        ("rollback.yml", "rollback"),
        ("feature-health.yml", "health"),
        ("weekly-report.yml", "report"),  # Prometheus, and the store's calendars: health role
    }
    environments = [e for j in platform.values() if j.role_variables for e in j.environments]
    shared = {e for e in environments if environments.count(e) > 1}
    # One environment per job role; the two read-only health jobs share the health role.
    assert shared <= {"health"}, f"environments shared by jobs with roles: {shared}"
    for job in jobs:
        if job.role_variables:
            assert job.role_variables == ["AWS_ROLE_ARN"] and job.environments
    ci = {j.job: j.runs_on for j in jobs if j.workflow == "ci.yml"}
    assert all(labels == ["ubuntu-24.04"] for labels in ci.values()), "CI has no platform access"


def test_schedules_follow_the_specification() -> None:
    assert load("data")["on"]["schedule"] == [{"cron": "0 2 * * *"}]
    assert load("train")["on"]["schedule"] == [{"cron": "0 3 * * 0"}]
    assert load("feature-health")["on"]["schedule"] == [{"cron": "0 * * * *"}]


def test_nightly_data_forces_ingest_then_reproduces_the_rest() -> None:
    runs = [s.get("run", "") for s in load("data")["jobs"]["data"]["steps"]]
    order = [
        ".venv/bin/dvc pull --allow-missing --with-deps data_health",
        ".venv/bin/dvc repro --force --single-item ingest",
        ".venv/bin/dvc repro data_health",
        ".venv/bin/dvc push --with-deps data_health",
    ]
    assert [r for r in runs if r in order] == order
    path_step = next(i for i, r in enumerate(runs) if "GITHUB_PATH" in r)
    assert path_step < runs.index(order[1]), "the venv's python is first on PATH for dvc repro"


def test_training_reproduces_every_stage_and_registers_once_forced() -> None:
    from dvc.repo import Repo

    runs = "\n".join(s.get("run", "") for s in load("train")["jobs"]["train"]["steps"])
    targets = {
        word
        for line in runs.splitlines()
        if line.strip().startswith(".venv/bin/dvc repro") and "--force" not in line
        for word in line.split()[2:]
        if not word.startswith("-")
    }
    with Repo(str(REPO_ROOT)) as repo:
        graph = repo.index.graph  # an edge runs from a stage to a stage it depends on
        leaves = {stage.addressing for stage in graph.nodes if graph.in_degree(stage) == 0}
    assert "register" in leaves
    assert targets | {"register"} >= leaves, f"stages never reproduced: {leaves - targets}"
    assert ".venv/bin/dvc repro --force --single-item register" in runs
    assert "register" not in targets, "registered twice: once by repro, once forced"


@pytest.mark.parametrize(("pipeline", "workflow"), [("data", "data"), ("training", "train")])
def test_batch_pipelines_push_their_outcome_last(pipeline: str, workflow: str) -> None:
    job = next(iter(load(workflow)["jobs"].values()))
    assert job["env"]["PUSHGATEWAY_URL"] == "${{ vars.PUSHGATEWAY_URL }}"
    steps = job["steps"]
    mark = next(s for s in steps if "monitor mark" in s.get("run", ""))
    assert mark["if"] == "always()"
    assert (
        f'--pipeline {pipeline} --status "$STATUS" --started-at "$PIPELINE_STARTED"' in mark["run"]
    )
    assert "PIPELINE_STARTED" in steps[0]["run"], "the clock starts first"
    assert all(s.get("if") == "always()" for s in steps[steps.index(mark) + 1 :])


def test_deploy_selects_environments_from_the_whole_push(repo: Path) -> None:
    before = commit(repo, {"README.md": "x\n"}, "before the push")
    commit(repo, {"environments/dev/model.yaml": "model: {version: '2'}\n"}, "promote dev")
    after = commit(repo, {"environments/prod/model.yaml": "model: {version: '1'}\n"}, "prod")
    script = load("deploy")["jobs"]["changes"]["steps"][-1]["run"]
    out = repo / "out"
    env = {"BEFORE": before, "AFTER": after, "ONLY": "all", "GITHUB_OUTPUT": str(out)}
    assert bash(script, repo, env).returncode == 0
    assert out.read_text().split() == ["dev=true", "staging=false", "prod=true", f"since={before}"]
    base = commit(repo, {"environments/base/rollout.yaml": "kind: Rollout\n"}, "base")
    out.unlink()
    assert bash(script, repo, {**env, "BEFORE": after, "AFTER": base}).returncode == 0
    assert out.read_text().split()[:3] == ["dev=true", "staging=true", "prod=true"]
    out.unlink()
    unknown = {**env, "BEFORE": "0" * 40, "AFTER": base, "ONLY": "staging"}
    assert bash(script, repo, unknown).returncode == 0
    assert out.read_text().split() == ["dev=false", "staging=true", "prod=false", "since="]


def test_deploy_jobs_are_skipped_when_their_environment_did_not_change() -> None:
    doc = load("deploy")
    assert "concurrency" not in doc, "a GitHub concurrency group drops pending deploys"
    for env in ("dev", "staging", "prod"):
        job = doc["jobs"][f"deploy-{env}"]
        assert job["needs"] == "changes" and job["environment"] == env
        assert job["if"] == f"needs.changes.outputs.{env} == 'true'"
        assert "concurrency" not in job
        deploy = next(s for s in job["steps"] if s.get("id") == "deploy")
        assert f"pipelines deploy --env {env} " in deploy["run"] and "--since" in deploy["run"]
        assert deploy["env"]["ARGO_TOKEN"] == "${{ secrets.ARGO_TOKEN }}"  # noqa: S105
        assert job["env"]["ARGO_SERVER"] == "${{ vars.ARGO_SERVER }}"


@pytest.mark.parametrize(
    ("files", "code"),
    [
        ({"environments/prod/model.yaml": "model: {version: '3'}\n"}, "false"),
        ({"dvc.lock": "x\n", "reports/gates/dev.json": "{}\n"}, "false"),
        ({"environments/prod/model.yaml": "v\n", "pipelines/x.py": "x = 1\n"}, "true"),
        ({"environments/prod/settings.yaml": "replicas: 3\n"}, "true"),
    ],
)
def test_ci_runs_the_full_suite_only_for_code(repo: Path, files: dict[str, str], code: str) -> None:
    base = commit(repo, {"README.md": "base\n"}, "base")
    commit(repo, files, "change")
    script = next(s for s in load("ci")["jobs"]["changes"]["steps"] if s.get("id") == "diff")
    out = repo / "out"
    env = {"EVENT": "pull_request", "PR_BASE": base, "PUSH_BEFORE": "", "GITHUB_OUTPUT": str(out)}
    done = bash(script["run"], repo, env)
    assert done.returncode == 0, done.stderr
    assert out.read_text().strip() == f"code={code}"
    test = load("ci")["jobs"]["test"]
    assert test["name"] == "Lint and test" and test["if"] == "needs.changes.outputs.code == 'true'"
    assert load("ci")["jobs"]["delivery-lint"]["name"].startswith("Delivery lint")


def _fake_tool(folder: Path, name: str, code: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(f'#!/bin/sh\necho "{name} $*"\nexit {code}\n')
    (folder / name).chmod(0o755)


@pytest.mark.parametrize(
    ("event", "mode", "flag"),
    [
        ("repository_dispatch", "push", "--direct"),
        ("repository_dispatch", "pr", "--open-pr"),
        ("workflow_dispatch", "push", "--open-pr"),
    ],
)
def test_rollback_direct_only_on_the_automatic_path(
    tmp_path: Path, event: str, mode: str, flag: str
) -> None:
    script = next(
        s["run"] for s in load("rollback")["jobs"]["rollback"]["steps"] if "rollback" in s["name"]
    )
    _fake_tool(tmp_path / ".github/scripts", "as-bot")
    env = {"EVENT": event, "ROLLBACK_COMMIT_MODE": mode, "TARGET": "prod", "TO_VERSION": ""}
    # The failed deploy's digest (repository_dispatch payload): the revert is refused if main
    # has moved on; a person's dispatch carries none.
    digest = "ab" * 32 if event == "repository_dispatch" else ""
    done = bash(script, tmp_path, {**env, "REASON": "aborted", "ONLY_IF_SHA256": digest})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"--reason aborted --only-if-sha256 {digest} --push {flag}")


@pytest.mark.parametrize(("code", "expected"), [(0, 0), (10, 0), (20, 20), (2, 2)])
def test_feature_health_warning_passes_visibly_and_critical_fails(
    tmp_path: Path, code: int, expected: int
) -> None:
    steps = load("feature-health")["jobs"]["health"]["steps"]
    script = next(s["run"] for s in steps if s.get("id") == "health")
    _fake_tool(tmp_path / ".venv/bin", "python", code)
    summary = tmp_path / "summary.md"
    done = bash(script, tmp_path, {"GITHUB_STEP_SUMMARY": str(summary)})
    assert done.returncode == expected, done.stdout + done.stderr
    assert (
        "python -m pipelines monitor health --manifest environments/prod/model.yaml" in done.stdout
    )
    assert ("::warning title=Feature health::" in done.stdout) == (code == 10)
    notice = next(s for s in steps if s.get("if") == "steps.health.outputs.status == 'no-model'")
    assert bash(notice["run"], tmp_path, {"GITHUB_STEP_SUMMARY": str(summary)}).returncode == 0


def _locked_uv() -> str:
    text = (REPO_ROOT / "requirements" / "uv.txt").read_text(encoding="utf-8")
    return next(line.split("==")[1].split()[0] for line in text.splitlines() if "uv==" in line)


def test_every_make_setup_gets_the_locked_uv_first() -> None:
    setups = 0
    for path in sorted(FOLDER.glob("*.yml")):
        for key, job in (load_workflow(path).get("jobs") or {}).items():
            uv: str | None = None
            for step in job.get("steps", []):
                if str(step.get("uses", "")).startswith("astral-sh/setup-uv@"):
                    uv = str((step.get("with") or {}).get("version"))
                if "make setup" in str(step.get("run", "")):
                    setups += 1
                    assert uv == _locked_uv(), f"{path.name} {key}: setup-uv {uv} before make setup"
    assert setups >= 10


@pytest.mark.parametrize(("version", "taken"), [("lock", True), ("0.1.0", False)])
def test_make_takes_uv_from_path_only_at_the_locked_version(
    tmp_path: Path, version: str, taken: bool
) -> None:
    shown = _locked_uv() if version == "lock" else version
    fake = tmp_path / "uv"
    fake.write_text(f'#!/bin/sh\necho "uv {shown} (fake)"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}"}
    printed = bash("make -s -p -n help", REPO_ROOT, env)
    assert printed.returncode == 0, printed.stderr
    (line,) = [x for x in printed.stdout.splitlines() if x.startswith("UV := ")]
    assert (line == f"UV := {fake}") is taken, line
    assert (line == "UV := .tools/uv/bin/uv") is not taken, line
