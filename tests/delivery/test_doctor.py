"""``pipelines doctor`` on a bare fork (everything missing, exit 1) and a complete setup (exit 0).

Real parts: a moto server (S3 bucket of the DVC remote, IAM roles, STS) and a real ``mlflow
server``; the GitHub REST API is a table-driven fake (404 for everything on the bare fork).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from pipelines.cli import main
from pipelines.delivery.doctor_workflows import read_jobs, role_environments
from tests.conftest import REPO_ROOT
from tests.delivery.fake_github import Routes, github_api
from twin.procs import free_port, http_ok, log_tail, spawn, stop, wait_until

pytestmark = pytest.mark.slow
REPO = "trading-pipelines/gitops"
BUCKET = "trading-prod-dvc-data-123456789012"
MODEL = "trading-lgbm"
ENVIRONMENTS = ["data", "dev", "health", "promote-dev", "promote-prod", "promote-staging"]
ENVIRONMENTS += ["prod", "rollback", "staging", "training"]


@pytest.fixture
def fork(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_endpoint: str) -> Path:
    root = tmp_path / "fork"
    root.mkdir()
    for name in (".github", ".dvc"):
        shutil.copytree(REPO_ROOT / name, root / name, ignore=shutil.ignore_patterns("*.local"))
    shutil.copy2(REPO_ROOT / "params.yaml", root / "params.yaml")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    monkeypatch.chdir(root)
    for name in ("DVC_REMOTE_URL", "MLFLOW_TRACKING_URI", "GH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_person")
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    return root


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    argv = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--workers", "1"]
    argv += ["--default-artifact-root", str(folder / "artifacts")]
    proc = spawn("mlflow", argv, log_dir=folder, cwd=folder)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            "mlflow", http_ok(f"{url}/health"), timeout=120, proc=proc,
            on_fail=lambda: log_tail(folder, "mlflow"),
        )  # fmt: skip
        httpx.post(f"{url}/api/2.0/mlflow/registered-models/create", json={"name": MODEL})
        yield url
    finally:
        stop(proc.pid)
        proc.wait()


def doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["doctor"])
    return code, capsys.readouterr().out.strip().splitlines()


def test_a_bare_fork_lists_every_missing_item_and_exits_1(
    fork: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with github_api({}) as api, pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITHUB_API_URL", api)
        code, lines = doctor(capsys)
    assert code == 1
    text = "\n".join(lines)
    assert "MISSING  dvc remote: storage: URL not set (repository variable DVC_REMOTE_URL)" in text
    assert "MISSING  mlflow: MLFLOW_TRACKING_URI not set (repository variable)" in text
    for name in ("APP_ID", "ARGO_SERVER", "AWS_REGION", "AWS_ROLE_ARN", "DVC_REMOTE_URL"):
        assert any(line.startswith(f"MISSING  variable {name}: not visible to") for line in lines)
    for name in ("APP_PRIVATE_KEY", "ARGO_TOKEN"):
        assert any(line.startswith(f"MISSING  secret {name}: not visible to") for line in lines)
    for name in ("DATA_COMMIT_MODE", "ROLLBACK_COMMIT_MODE", "TRAIN_PYTEST_ARGS"):
        assert f"INFO     variable {name}: not set: optional, the default applies" in text
    for env in ENVIRONMENTS:
        assert f"MISSING  environment {env}: does not exist (HTTP 404)" in text
    roles = role_environments(read_jobs(fork / ".github/workflows"))
    assert sorted(roles) == ["data", "health", "promote-prod", "promote-staging", "training"]
    for env in roles:
        assert (
            f"MISSING  aws role for environment {env}: variable AWS_ROLE_ARN not set for "
            f"environment {env}" in text
        )
    assert lines[-1].startswith("doctor: ") and lines[-1].endswith(" missing")


def _trust(env: str, sub: str | None = None) -> str:
    provider = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                            "token.actions.githubusercontent.com:sub": sub
                            or f"repo:{REPO}:environment:{env}",
                        }
                    },
                }
            ],
        }
    )


def _complete_routes(fork: Path, mlflow: str) -> Routes:
    jobs = read_jobs(fork / ".github/workflows")
    names = {
        kind: sorted({n.name for j in jobs for n in j.needs if n.kind == kind})
        for kind in ("secret", "variable")
    }
    r = f"/repos/{REPO}"
    routes: Routes = {
        ("GET", f"{r}/actions/secrets"): (200, {"secrets": [{"name": n} for n in names["secret"]]}),
        ("GET", f"{r}/actions/variables"): (
            200,
            {"variables": [{"name": n} for n in names["variable"]]},
        ),
        ("GET", f"{r}/actions/variables/DVC_REMOTE_URL"): (200, {"value": f"s3://{BUCKET}/cache"}),
        ("GET", f"{r}/actions/variables/MLFLOW_TRACKING_URI"): (200, {"value": mlflow}),
        ("GET", f"{r}/actions/permissions/workflow"): (
            200,
            {"can_approve_pull_request_reviews": False},
        ),  # fmt: skip
    }
    reviewers = [{"type": "required_reviewers", "reviewers": [{"type": "User"}]}]
    for env in ENVIRONMENTS:
        rules = reviewers if env in ("staging", "prod") else []
        routes[("GET", f"{r}/environments/{env}")] = (200, {"name": env, "protection_rules": rules})
        arn = f"arn:aws:iam::123456789012:role/trading-prod-github-{env}"
        routes[("GET", f"{r}/environments/{env}/variables/AWS_ROLE_ARN")] = (200, {"value": arn})
    return routes


def _roles(trust_for: dict[str, str]) -> None:
    iam = boto3.client("iam")
    for env, policy in trust_for.items():
        iam.create_role(RoleName=f"trading-prod-github-{env}", AssumeRolePolicyDocument=policy)


def test_a_complete_setup_exits_0(
    fork: Path, mlflow_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    roles = role_environments(read_jobs(fork / ".github/workflows"))
    _roles({env: _trust(env) for env in roles})
    with (
        github_api(_complete_routes(fork, mlflow_server)) as api,
        pytest.MonkeyPatch.context() as p,
    ):
        p.setenv("GITHUB_API_URL", api)
        code, lines = doctor(capsys)
        assert code == 0, "\n".join(lines)
        text = "\n".join(lines)
        assert f"OK       dvc remote: storage -> s3://{BUCKET}/cache: reachable" in text
        assert f"OK       mlflow: {mlflow_server} reachable, model {MODEL} registered" in text
        assert "OK       environment prod: 1 required reviewer(s)" in text
        arn = "arn:aws:iam::123456789012:role/trading-prod-github-data"
        trusted = f"trusts repo:{REPO}:environment:data; assumed"
        assert f"OK       aws role for environment data: {arn}: {trusted}" in text
        assert not [line for line in lines if line.startswith("MISSING")]
        # A wildcard subject, or one for another environment, is refused.
        iam = boto3.client("iam")
        iam.update_assume_role_policy(
            RoleName="trading-prod-github-training",
            PolicyDocument=_trust("training", f"repo:{REPO}:*"),
        )
        code, lines = doctor(capsys)
    assert code == 1
    assert any(
        line.startswith("MISSING  aws role for environment training:")
        and "trust policy does not allow exactly" in line
        for line in lines
    )
