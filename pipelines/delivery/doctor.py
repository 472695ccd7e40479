"""``pipelines doctor``: the first command after forking. Is everything the workflows need set?

One line per item, ``OK``, ``MISSING`` or ``INFO``; exit 1 when anything is missing:

- the DVC default remote is configured and its bucket reachable;
- MLflow answers and the model is registered;
- every secret and variable the workflows read, in the scope where each job reads it (names
  parsed from ``.github/workflows``), every environment exists, staging and prod deployments
  wait for a required reviewer;
- the OIDC role of every environment whose jobs assume one exists and trusts exactly that
  repository and environment (and, against ``AWS_ENDPOINT_URL``, can be assumed through STS).

Values come from the environment first (``DVC_REMOTE_URL``, ``MLFLOW_TRACKING_URI``), else from
the repository's variables on GitHub.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlparse

import httpx

from pipelines.delivery.doctor_aws import role_check
from pipelines.delivery.doctor_github import (
    Check,
    GitHubReader,
    actions_pr_check,
    environment_checks,
    need_checks,
)
from pipelines.delivery.doctor_workflows import read_jobs, role_environments

PLACEHOLDER = "ACCOUNT_ID"
Lookup = Callable[[str, str | None], str | None]


def dvc_remote_url(root: Path, override: str | None) -> tuple[str | None, str | None]:
    """``(remote name, url)`` of DVC's default remote, ``override`` replacing its URL."""
    from dvc.config import Config

    config = Config(dvc_dir=str(root / ".dvc"), validate=False)
    name = str(config.get("core", {}).get("remote") or "") or None
    if name is None:
        return None, None
    url = override or str(config.get("remote", {}).get(name, {}).get("url") or "") or None
    return name, url


def dvc_check(root: Path, override: str | None) -> Check:
    """The default remote exists, has a real URL and its bucket (or folder) answers."""
    item = "dvc remote"
    name, url = dvc_remote_url(root, override)
    if name is None:
        return Check("missing", item, "no default remote in .dvc/config (core.remote)")
    if not url or PLACEHOLDER in url:
        return Check("missing", item, f"{name}: URL not set (repository variable DVC_REMOTE_URL)")
    parsed = urlparse(url)
    if parsed.scheme != "s3":
        ok = Path(url).is_dir()
        return Check(
            "ok" if ok else "missing",
            item,
            f"{name} -> {url}: folder " + ("exists" if ok else "missing"),
        )
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        boto3.client("s3").list_objects_v2(
            Bucket=parsed.netloc, Prefix=parsed.path.lstrip("/"), MaxKeys=1
        )
    except (BotoCoreError, ClientError) as exc:
        return Check("missing", item, f"{name} -> {url}: unreachable ({exc})")
    return Check("ok", item, f"{name} -> {url}: reachable")


def mlflow_check(uri: str | None, model_name: str) -> Check:
    """MLflow answers ``/health`` and has the registered model."""
    item = "mlflow"
    if not uri:
        return Check("missing", item, "MLFLOW_TRACKING_URI not set (repository variable)")
    if urlparse(uri).scheme not in ("http", "https"):
        return Check("missing", item, f"{uri}: expected the tracking server's http(s) URL")
    base = uri.rstrip("/")
    try:
        health = httpx.get(f"{base}/health", timeout=10)
        found = httpx.get(
            f"{base}/api/2.0/mlflow/registered-models/get", params={"name": model_name}, timeout=10
        )
    except httpx.HTTPError as exc:
        return Check("missing", item, f"{uri}: unreachable ({exc})")
    if health.status_code != 200:
        return Check("missing", item, f"{uri}: /health answered HTTP {health.status_code}")
    if found.status_code != 200:
        return Check(
            "missing",
            item,
            f"{uri} reachable, model {model_name} not registered (train.yml registers it)",
        )
    versions = found.json().get("registered_model", {}).get("latest_versions") or []
    latest = max((int(v.get("version", 0)) for v in versions), default=0)
    return Check("ok", item, f"{uri} reachable, model {model_name} registered (latest v{latest})")


def _repository(root: Path, environ: Mapping[str, str]) -> str | None:
    if environ.get("GITHUB_REPOSITORY"):
        return environ["GITHUB_REPOSITORY"]
    proc = subprocess.run(  # noqa: S603 - fixed arguments
        ["git", "-C", str(root), "remote", "get-url", "origin"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    url = proc.stdout.strip().removesuffix(".git")
    parts = url.replace(":", "/").split("/")
    return f"{parts[-2]}/{parts[-1]}" if proc.returncode == 0 and len(parts) >= 2 else None


def run_checks(
    root: Path, model_name: str, environ: Mapping[str, str] | None = None
) -> list[Check]:
    """Every check, in report order."""
    env = os.environ if environ is None else environ
    jobs = read_jobs(root / ".github" / "workflows")
    roles = role_environments(jobs)
    repository = _repository(root, env)
    token = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN")
    api = env.get("GITHUB_API_URL", "https://api.github.com")
    checks: list[Check] = []
    reader = GitHubReader(api, repository, token) if repository and token else None
    lookup: Lookup = (
        (lambda name, scope: reader.variable(name, scope)) if reader else (lambda n, s: None)
    )
    checks.append(dvc_check(root, env.get("DVC_REMOTE_URL") or lookup("DVC_REMOTE_URL", None)))
    uri = env.get("MLFLOW_TRACKING_URI") or lookup("MLFLOW_TRACKING_URI", None)
    checks.append(mlflow_check(uri, model_name))
    if reader is None:
        what = "GITHUB_REPOSITORY (or an origin remote)" if not repository else "GITHUB_TOKEN"
        checks.append(Check("missing", "github", f"{what} not set: secrets and settings unchecked"))
    else:
        checks += need_checks(reader, jobs)
        checks += environment_checks(reader, {e for j in jobs for e in j.environments})
        checks.append(actions_pr_check(reader))
    for environment in sorted(roles):
        variables = {v for j in jobs if environment in j.environments for v in j.role_variables}
        arn = next((a for v in sorted(variables) if (a := lookup(v, environment))), None)
        checks.append(role_check(environment, arn, repository or "", env))
    return checks


def main(root: Path, model_name: str, out: Callable[[str], object]) -> int:
    """Print the report; return 1 if anything is missing, else 0."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per item, not per request
    checks = run_checks(root, model_name)
    for check in checks:
        out(check.line())
    missing = sum(c.status == "missing" for c in checks)
    out(f"doctor: {len(checks)} checked, {missing} missing")
    return 1 if missing else 0
