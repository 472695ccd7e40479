"""Every workflow job's identity exists exactly once in Terraform, and every identity has a job.

Read from both sides: the workflows' ``environment:``, ``role-to-assume`` and ``ARGO_TOKEN``
(the doctor's parser) and the Terraform: the identity module's per-environment access map, the
environments' ``github_workflow_environments`` and the role's trust condition (python-hcl2); the
deploy environments' Kubernetes accounts, their RBAC and admission policy (terraform console on
kubernetes-objects).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from pipelines.delivery.doctor_workflows import read_jobs, role_environments
from pipelines.infra import cluster, identity
from pipelines.infra.hcl import load_tree
from tests.conftest import require_tool

REPO_ROOT = Path(__file__).resolve().parents[2]


def role_mismatches(workflows: Path, terraform: Path) -> list[str]:
    """Mismatches between the workflows' role use and the Terraform roles."""
    return identity.role_mismatches(read_jobs(workflows), load_tree(terraform))


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO_ROOT / ".github", tmp_path / ".github")
    shutil.copytree(
        REPO_ROOT / "terraform", tmp_path / "terraform", ignore=shutil.ignore_patterns(".terraform")
    )
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"fixture anchor missing in {path}: {old!r}"
    path.write_text(text.replace(old, new, 1))


def test_every_role_has_a_job_and_every_job_a_role() -> None:
    assert role_mismatches(REPO_ROOT / ".github/workflows", REPO_ROOT / "terraform") == []
    needed = role_environments(read_jobs(REPO_ROOT / ".github/workflows"))
    assert sorted(needed) == ["data", "health", "promote-prod", "promote-staging", "training"]


def test_a_job_without_a_role_fails(copy: Path) -> None:
    # Both jobs of the health role (the hourly check and the weekly report) move to "ops".
    edit(copy / ".github/workflows/feature-health.yml", "environment: health", "environment: ops")
    edit(copy / ".github/workflows/weekly-report.yml", "environment: health", "environment: ops")
    problems = role_mismatches(copy / ".github/workflows", copy / "terraform")
    jobs = "feature-health.yml:health, weekly-report.yml:report"
    assert f"{jobs}: no access for environment ops in identity" in problems, problems
    assert f"{jobs}: no terraform.tfvars provisions a role for ops" in problems
    assert "role for environment health: no workflow job assumes it" in problems


def test_a_role_without_a_job_fails(copy: Path) -> None:
    edit(
        copy / "terraform/modules/identity/main.tf",
        '"promote-prod"    = { read = ["dvc"], write = [] }',
        '"promote-prod"    = { read = ["dvc"], write = [] }\n'
        '    backtest = { read = ["dvc"], write = [] }',
    )
    problems = role_mismatches(copy / ".github/workflows", copy / "terraform")
    assert problems == ["role for environment backtest: no workflow job assumes it"]


def test_an_environment_left_out_of_the_tfvars_fails(copy: Path) -> None:
    edit(copy / "terraform/environments/prod/terraform.tfvars", '"health", ', "")
    problems = role_mismatches(copy / ".github/workflows", copy / "terraform")
    assert problems == [
        "feature-health.yml:health, weekly-report.yml:report: no terraform.tfvars provisions a "
        "role for health"
    ]


def test_a_wildcard_trust_fails(copy: Path) -> None:
    edit(
        copy / "terraform/modules/identity/main.tf",
        '"repo:${var.github_repository}:environment:${each.key}"',
        '"repo:${var.github_repository}:*"',
    )
    problems = role_mismatches(copy / ".github/workflows", copy / "terraform")
    assert problems == ["aws_iam_role.github: trust is not repo:<repository>:environment:<env>"]


@pytest.fixture(scope="module")
def delivery_objects() -> list[dict[str, Any]]:
    require_tool("terraform", "TERRAFORM_PYTHON")
    return cluster.evaluate(REPO_ROOT).releases["delivery"]


def test_every_deploy_job_has_its_account_and_no_more(
    delivery_objects: list[dict[str, Any]],
) -> None:
    jobs = read_jobs(REPO_ROOT / ".github/workflows")
    assert identity.deploy_account_mismatches(jobs, delivery_objects) == []
    names = sorted(
        str(o["metadata"]["name"])
        for o in delivery_objects
        if o["kind"] == "ServiceAccount" and str(o["metadata"]["name"]).startswith("github-")
    )
    assert names == ["github-deploy-dev", "github-deploy-prod", "github-deploy-staging"]


def test_a_deploy_job_without_an_account_and_an_account_without_a_job_fail(
    delivery_objects: list[dict[str, Any]], copy: Path
) -> None:
    edit(
        copy / ".github/workflows/deploy.yml", "    environment: staging\n", "    environment: qa\n"
    )
    jobs = read_jobs(copy / ".github/workflows")
    assert identity.deploy_account_mismatches(jobs, delivery_objects) == [
        "deploy.yml:deploy-staging: no account github-deploy-qa in argo",
        "account github-deploy-staging: no workflow job deploys with it",
    ]


def test_deploy_accounts_get_no_right_beyond_submitting_the_deploy(
    delivery_objects: list[dict[str, Any]],
) -> None:
    jobs = read_jobs(REPO_ROOT / ".github/workflows")
    widened = [dict(o) for o in delivery_objects]
    for obj in widened:
        if obj["kind"] == "Role" and obj["metadata"]["name"] == "github-deploy":
            obj["rules"] = [
                *obj["rules"],
                {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
            ]
    widened.append(
        {
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "oops"},
            "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [
                {"kind": "ServiceAccount", "name": "github-deploy-prod", "namespace": "argo"}
            ],
        }
    )
    widened = [o for o in widened if o["kind"] != "ValidatingAdmissionPolicy"]
    problems = identity.deploy_account_mismatches(jobs, widened)
    assert "github-deploy-prod: cluster-wide binding oops" in problems
    assert "Role github-deploy: grants [('', 'secrets')]" in problems
    assert "no admission policy keeps each deploy account to its own environment" in problems
