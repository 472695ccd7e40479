"""The twin's GitHub repository settings, derived from what the workflows themselves read.

A team sets these on github.com (``pipelines doctor`` lists them); the twin sets them on its
fake GitHub. The list of names comes from the workflows (``doctor_workflows.read_jobs``) and the
roles from Terraform's naming, so a new ``${{ vars.X }}`` with no value here fails ``twin up``
with one line instead of failing a job later. Values are the twin's own endpoints.
"""

from __future__ import annotations

import os
import secrets as token_source
from pathlib import Path
from typing import Any

from pipelines.delivery.doctor_workflows import JobInfo, read_jobs
from pipelines.infra.hcl import environment_settings, load_tree
from twin import state
from twin.buckets import ACCOUNT_ID, bucket_names, name_prefix
from twin.errors import TwinError
from twin.github.config import REPOSITORY

APP_ID = "424242"
APP_SLUG = "trading-pipelines-bot"
# The repository the twin runs from (its .tools/ and venv).
SOURCE = Path(__file__).resolve().parents[1]
BOT_LOGIN = f"{APP_SLUG}[bot]"
# Environments whose jobs wait for a person on github.com (docs/architecture.md).
REVIEWED = {"staging", "prod", "promote-staging", "promote-prod"}
# The documented subset of the suite that train.yml runs in the twin (github.com: the whole).
TRAIN_PYTEST_ARGS = "-q -m 'not slow' tests/training/test_gates.py tests/training/test_metrics.py"


def role_arn(prefix: str, environment: str) -> str:
    """The ARN Terraform's identity module gives the role of a workflow environment."""
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{prefix}-github-{environment}"


def provisioned_roles(root: Path) -> list[str]:
    """Workflow environments that the Terraform environments provision a role for."""
    tree = load_tree(root / "terraform")
    found: set[str] = set()
    for env in ("dev", "staging", "prod"):
        settings = environment_settings(tree, env)
        found |= set((settings[1] if settings else {}).get("github_workflow_environments") or [])
    return sorted(found)


def _values(home: Path, root: Path, app_key: str) -> dict[str, str]:
    doc = state.load(home)
    env, services = doc["env"], doc["services"]
    cluster = services.get("cluster") or {}
    buckets = bucket_names(root)
    return {
        "AWS_REGION": env.get("AWS_DEFAULT_REGION", "us-east-1"),
        "DVC_REMOTE_URL": f"s3://{buckets.dvc}/cache",
        "MLFLOW_TRACKING_URI": env["MLFLOW_TRACKING_URI"],
        "PUSHGATEWAY_URL": env["PUSHGATEWAY_URL"],
        "PROMETHEUS_URL": env["PROMETHEUS_URL"],  # weekly-report.yml reads the week back
        "ARGO_SERVER": str(cluster.get("argo_url", "")),
        "ARGO_TOKEN": str(cluster.get("argo_token", "")),
        "APP_ID": APP_ID,
        "APP_PRIVATE_KEY": app_key,
        "TRAIN_PYTEST_ARGS": TRAIN_PYTEST_ARGS,
        "DATA_COMMIT_MODE": "push",
        "ROLLBACK_COMMIT_MODE": "push",
    }


def settings(home: Path, root: Path, jobs: list[JobInfo] | None = None) -> dict[str, Any]:
    """The twin config document for the checkout ``root`` (workflows and Terraform).

    Raises:
        TwinError: A workflow reads a secret or variable the twin has no value for.
    """
    jobs = jobs if jobs is not None else read_jobs(root / ".github" / "workflows")
    app_key = f"twin-app-key-{token_source.token_hex(16)}"
    values = _values(home, root, app_key)
    prefix = name_prefix(root)
    variables: dict[str, str] = {}
    secrets: dict[str, str] = {}
    environments: dict[str, dict[str, Any]] = {}
    for job in jobs:
        for env in job.environments:
            environments.setdefault(env, {"reviewers": [], "secrets": {}, "variables": {}})
        for need in job.needs:
            if need.kind == "variable" and need.name == "AWS_ROLE_ARN":
                if need.environment is None:
                    raise TwinError(
                        f"{job.workflow}:{job.job}: AWS_ROLE_ARN outside an environment"
                    )
                scope = environments[need.environment]["variables"]
                scope["AWS_ROLE_ARN"] = role_arn(prefix, need.environment)
                continue
            if need.name not in values or not values[need.name]:
                if need.optional:
                    continue
                raise TwinError(
                    f"{job.workflow}:{job.job} reads {need.kind} {need.name}: the twin has no "
                    "value for it (twin/repo_settings.py)"
                )
            target = secrets if need.kind == "secret" else variables
            target[need.name] = values[need.name]
    person = "release-manager"
    for name, scope in environments.items():
        if name in REVIEWED:
            scope["reviewers"] = [person]
    roles = {
        role_arn(prefix, env): [f"repo:{REPOSITORY}:environment:{env}"]
        for env in provisioned_roles(root)
    }
    required = _ci_checks(root)
    return {
        "person": {"login": person},
        "actions": {
            "default_workflow_permissions": "read",
            "can_approve_pull_request_reviews": True,
        },
        "variables": variables,
        "secrets": secrets,
        "environments": environments,
        "branch_protection": {
            "main": {
                "required_status_checks": {"strict": False, "contexts": required},
                "required_pull_request_reviews": None,
                "enforce_admins": False,
                "allow_force_pushes": False,
                "bypass": [BOT_LOGIN],
            }
        },
        "apps": {
            APP_ID: {
                "slug": APP_SLUG,
                "private_key": app_key,
                "permissions": {
                    "contents": "write",
                    "pull-requests": "write",
                    "statuses": "read",
                    "workflows": "read",
                },
            }
        },
        "runner": {
            "env": runner_env(),
            "self_hosted": [["self-hosted", "linux", "x64", "trading-platform"]],
            "scale_sets": ["trading-platform"],
            "tools": runner_tools(),
        },
        "aws": {
            "region": values["AWS_REGION"],
            "endpoint_url": state.load(home)["env"].get("AWS_ENDPOINT_URL", ""),
            "roles": roles,
        },
    }


def runner_tools(source: Path = SOURCE) -> dict[str, str]:
    """The runner image's uv (for ``astral-sh/setup-uv``): the one the twin's source set up.

    That is the lock's version: ``make setup`` bootstraps it into ``.tools/uv``. Without that
    folder (a uv of the lock's version on PATH), ``actions_setup.machine_uv`` looks on PATH
    itself. The twin's checkout has no ``.tools``: it holds tracked files.
    """
    bootstrapped = source / ".tools" / "uv" / "bin" / "uv"
    return {"uv": str(bootstrapped)} if bootstrapped.is_file() else {}


def runner_env() -> dict[str, str]:
    """The runner image's package caches: this machine's, warm from its own ``make setup``.

    A runner image with warm caches is what a self-hosted scale set is built with; without it
    every job of the week would download the whole lock. Its jobs install offline
    (``UV_OFFLINE=1``), as a runner without egress to the index does: online, uv revalidates
    each of the lock's index pages once the index's 10-minute cache lifetime has passed, 1.3 s
    of a 2.8 s ``make setup`` against 1.1 s offline (measured on 2 cores), in each of the
    week's ~45 jobs, and the week would depend on the index answering. A lock entry missing
    from the cache fails the job, naming it.
    """
    home = Path.home()
    uv_cache = os.environ.get("UV_CACHE_DIR") or str(home / ".cache" / "uv")
    pip_cache = os.environ.get("PIP_CACHE_DIR") or str(home / ".cache" / "pip")
    return {"UV_CACHE_DIR": uv_cache, "PIP_CACHE_DIR": pip_cache, "UV_OFFLINE": "1"}


def _ci_checks(root: Path) -> list[str]:
    """The check names of ci.yml's jobs (GitHub's required status checks are job names)."""
    import yaml

    doc = yaml.safe_load((root / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    return sorted(str(job.get("name", key)) for key, job in (doc.get("jobs") or {}).items())
