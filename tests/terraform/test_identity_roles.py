"""Every workflow job that assumes an AWS role has exactly one Terraform role, and every role a job.

Read from both sides: the workflows' ``environment:`` and ``role-to-assume`` (the doctor's
parser) and the Terraform (python-hcl2): the identity module's per-environment access map, the
environments' ``github_workflow_environments`` and the role's trust condition.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from pipelines.delivery.doctor_workflows import read_jobs, role_environments
from pipelines.infra.hcl import environment_settings, load_tree, resources

REPO_ROOT = Path(__file__).resolve().parents[2]


def _identity(tree: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    (main,) = [f for f in tree.in_dir("modules/identity") if f.path.endswith("main.tf")]
    access: dict[str, Any] = {}
    for block in main.doc.get("locals", []):
        access.update(block.get("workflow_access") or {})
    roles = {name: body for rtype, name, body in resources(main.doc) if rtype == "aws_iam_role"}
    return access, roles["github"]


def role_mismatches(workflows: Path, terraform: Path) -> list[str]:
    """Human-readable mismatches between the workflows' role use and the Terraform roles."""
    jobs = read_jobs(workflows)
    needed = role_environments(jobs)
    tree = load_tree(terraform)
    access, role = _identity(tree)
    provisioned: set[str] = set()
    for env in ("dev", "staging", "prod"):
        found = environment_settings(tree, env)
        provisioned |= set((found[1] if found else {}).get("github_workflow_environments") or [])
    problems = []
    for env, users in sorted(needed.items()):
        if env not in access:
            problems.append(f"{', '.join(users)}: no access for environment {env} in identity")
        if env not in provisioned:
            problems.append(f"{', '.join(users)}: no terraform.tfvars provisions a role for {env}")
    for env in sorted((set(access) | provisioned) - set(needed)):
        problems.append(f"role for environment {env}: no workflow job assumes it")
    for job in jobs:
        if job.role_variables and job.role_variables != ["AWS_ROLE_ARN"]:
            problems.append(f"{job.workflow}:{job.job}: role-to-assume is not vars.AWS_ROLE_ARN")
    if "var.workflow_environments" not in str(role.get("for_each")):
        problems.append("aws_iam_role.github: not one role per workflow environment")
    trust = str(role.get("assume_role_policy"))
    if not re.search(r"repo:\$\{var\.github_repository\}:environment:\$\{each\.key\}", trust):
        problems.append("aws_iam_role.github: trust is not repo:<repository>:environment:<env>")
    return problems


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
    edit(copy / ".github/workflows/feature-health.yml", "environment: health", "environment: ops")
    problems = role_mismatches(copy / ".github/workflows", copy / "terraform")
    assert "feature-health.yml:health: no access for environment ops in identity" in problems
    assert "feature-health.yml:health: no terraform.tfvars provisions a role for ops" in problems
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
        "feature-health.yml:health: no terraform.tfvars provisions a role for health"
    ]


def test_a_wildcard_trust_fails(copy: Path) -> None:
    edit(
        copy / "terraform/modules/identity/main.tf",
        '"repo:${var.github_repository}:environment:${each.key}"',
        '"repo:${var.github_repository}:*"',
    )
    problems = role_mismatches(copy / ".github/workflows", copy / "terraform")
    assert problems == ["aws_iam_role.github: trust is not repo:<repository>:environment:<env>"]
