"""The identities the workflows use, held to the Terraform that creates them, in both directions.

- AWS: each GitHub environment whose jobs assume a role (``role-to-assume``) has one role in
  ``modules/identity``, trusted only for ``repo:<repository>:environment:<env>``, provisioned by
  a tfvars; and every role has such a job.
- The cluster: each environment whose jobs read ``ARGO_TOKEN`` (the deploys) has one account
  ``github-deploy-<env>`` with its token Secret, bound only in namespace ``argo`` to a Role that
  submits the deploy template and reads Workflows, under the admission policy that keeps it to
  its own environment; and every such account has such a job. No GitHub job gets any other
  Kubernetes right: no ClusterRoleBinding names these accounts.
"""

from __future__ import annotations

import re
from typing import Any

from pipelines.delivery.doctor_workflows import JobInfo, role_environments
from pipelines.infra.hcl import TfTree, environment_settings, resources

DEPLOY_PREFIX = "github-deploy-"
# What a deploy job's token may do (apiGroup, resource) through the Argo Server.
DEPLOY_RESOURCES = frozenset({("argoproj.io", "workflows"), ("argoproj.io", "workflowtemplates")})


def _identity(tree: TfTree) -> tuple[dict[str, Any], dict[str, Any]]:
    (main,) = [f for f in tree.in_dir("modules/identity") if f.path.endswith("main.tf")]
    access: dict[str, Any] = {}
    for block in main.doc.get("locals", []):
        access.update(block.get("workflow_access") or {})
    roles = {name: body for rtype, name, body in resources(main.doc) if rtype == "aws_iam_role"}
    return access, roles["github"]


def role_mismatches(jobs: list[JobInfo], tree: TfTree) -> list[str]:
    """Human-readable mismatches between the workflows' role use and the Terraform roles."""
    needed = role_environments(jobs)
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


def _of(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


def deploy_account_mismatches(jobs: list[JobInfo], objects: list[dict[str, Any]]) -> list[str]:
    """Deploy jobs (``ARGO_TOKEN``) against the Kubernetes accounts Terraform gives them."""
    needed: dict[str, list[str]] = {}
    for job in jobs:
        if any(need.name == "ARGO_TOKEN" for need in job.needs):
            for env in job.environments:
                needed.setdefault(env, []).append(f"{job.workflow}:{job.job}")
    accounts = {
        o["metadata"]["name"][len(DEPLOY_PREFIX) :]
        for o in _of(objects, "ServiceAccount")
        if o["metadata"]["name"].startswith(DEPLOY_PREFIX) and o["metadata"]["namespace"] == "argo"
    }
    tokens = {o["metadata"]["name"] for o in _of(objects, "Secret")}
    problems = []
    for env, users in sorted(needed.items()):
        if env not in accounts:
            problems.append(f"{', '.join(users)}: no account {DEPLOY_PREFIX}{env} in argo")
        elif f"{DEPLOY_PREFIX}{env}-token" not in tokens:
            problems.append(f"{', '.join(users)}: no token Secret for {DEPLOY_PREFIX}{env}")
    for env in sorted(accounts - set(needed)):
        problems.append(f"account {DEPLOY_PREFIX}{env}: no workflow job deploys with it")
    problems.extend(_deploy_rights(objects, {f"{DEPLOY_PREFIX}{env}" for env in accounts}))
    return problems


def _subjects(binding: dict[str, Any]) -> set[str]:
    return {
        s["name"]
        for s in binding.get("subjects") or []
        if s.get("kind") == "ServiceAccount" and s.get("namespace") == "argo"
    }


def _deploy_rights(objects: list[dict[str, Any]], names: set[str]) -> list[str]:
    problems = []
    for binding in _of(objects, "ClusterRoleBinding"):
        for name in sorted(_subjects(binding) & names):
            problems.append(f"{name}: cluster-wide binding {binding['metadata']['name']}")
    roles = {
        (o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in _of(objects, "Role")
    }
    bound: set[str] = set()
    for binding in _of(objects, "RoleBinding"):
        subjects = _subjects(binding) & names
        if not subjects:
            continue
        bound |= subjects
        namespace = binding["metadata"].get("namespace")
        role = roles.get((namespace, binding["roleRef"]["name"]))
        if namespace != "argo" or binding["roleRef"]["kind"] != "Role" or role is None:
            problems.append(f"{binding['metadata']['name']}: deploy accounts bound outside argo")
            continue
        for rule in role.get("rules") or []:
            pairs = {(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
            if not pairs <= DEPLOY_RESOURCES or "*" in rule["verbs"]:
                problems.append(f"Role {role['metadata']['name']}: grants {sorted(pairs)}")
    for name in sorted(names - bound):
        problems.append(f"{name}: no RoleBinding gives it the deploy Role")
    policies = _of(objects, "ValidatingAdmissionPolicy")
    if names and not any(
        DEPLOY_PREFIX in str(p["spec"].get("matchConditions"))
        and "parameters" in str(p["spec"].get("validations"))
        for p in policies
    ):
        problems.append("no admission policy keeps each deploy account to its own environment")
    return problems
