"""``pipelines deploy --env ENV``: submit the Argo ``deploy`` WorkflowTemplate and wait for it.

Called by the deploy GitHub workflow on every push to main under ``environments/**``; it does
nothing for an environment whose folder (or the shared base) did not change.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.delivery.gitops import Git
from pipelines.errors import PipelineError
from pipelines.registry.manifest import read_manifest

DONE = {"Succeeded", "Failed", "Error"}


class DeployError(PipelineError):
    """The deploy workflow could not be submitted or did not succeed."""


def affected(git: Git, env: str, since: str, environments_dir: str = "environments") -> bool:
    """Whether a change since ``since`` touches ``env``'s overlay or the shared base."""
    out = git.run(
        "diff",
        "--name-only",
        since,
        "HEAD",
        "--",
        f"{environments_dir}/{env}",
        f"{environments_dir}/base",
    )
    return bool(out.strip())


def manifest_version(root: Path, env: str, environments_dir: str = "environments") -> str:
    """Model version that ``env``'s manifest names (``none`` when nothing is deployed).

    Raises:
        ManifestError: The manifest is missing or invalid.
    """
    model = read_manifest(root / environments_dir / env / "model.yaml").get("model")
    return str(model["version"]) if model else "none"


def workflow_for(env: str, revision: str, template: str = "deploy") -> dict[str, Any]:
    """The Workflow that runs the deploy WorkflowTemplate for ``env`` at ``revision`` (pure)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "generateName": f"{template}-{env}-",
            "labels": {"pipelines.trading/environment": env},
        },
        "spec": {
            "workflowTemplateRef": {"name": template},
            "arguments": {
                "parameters": [
                    {"name": "environment", "value": env},
                    {"name": "revision", "value": revision},
                ]
            },
        },
    }


def _kubectl(args: list[str], stdin: str | None = None) -> str:
    proc = subprocess.run(  # noqa: S603
        ["kubectl", *args],  # noqa: S607
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
        raise DeployError(f"kubectl {args[0]}: {lines[-1]}")
    return proc.stdout.strip()


def submit(workflow: dict[str, Any], namespace: str) -> str:
    """Create the Workflow and return its name."""
    return _kubectl(
        ["create", "-n", namespace, "-o", "jsonpath={.metadata.name}", "-f", "-"],
        stdin=json.dumps(workflow),
    )


def wait(
    name: str,
    namespace: str,
    timeout_seconds: float,
    *,
    phase_of: Callable[[str, str], str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 15.0,
) -> str:
    """Poll the Workflow's phase until it finishes; raise unless it succeeded."""

    def default_phase(n: str, ns: str) -> str:
        return _kubectl(["get", "workflow", n, "-n", ns, "-o", "jsonpath={.status.phase}"])

    get_phase = phase_of or default_phase
    waited = 0.0
    while True:
        phase = get_phase(name, namespace)
        if phase in DONE:
            if phase != "Succeeded":
                raise DeployError(f"workflow {namespace}/{name} ended {phase}")
            return phase
        if waited >= timeout_seconds:
            state = phase or "Pending"
            raise DeployError(f"workflow {namespace}/{name} still {state} after {waited:.0f}s")
        sleep(poll_seconds)
        waited += poll_seconds


def update_kubeconfig(cluster: str) -> None:
    """Point kubectl at an EKS cluster with the OIDC-assumed role (AWS CLI on the runner)."""
    proc = subprocess.run(  # noqa: S603
        ["aws", "eks", "update-kubeconfig", "--name", cluster],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise DeployError(
            f"aws eks update-kubeconfig --name {cluster}: {proc.stderr.strip()[:200]}"
        )


def deploy(
    root: Path,
    env: str,
    *,
    changed_since: str | None,
    namespace: str,
    wait_seconds: float | None,
    eks_cluster: str | None = None,
) -> str | None:
    """Submit the deploy workflow for ``env`` (None when nothing changed for it)."""
    git = Git(root)
    if changed_since and not affected(git, env, changed_since):
        return None
    if eks_cluster:
        update_kubeconfig(eks_cluster)
    revision = git.run("rev-parse", "HEAD")
    name = submit(workflow_for(env, revision), namespace)
    if wait_seconds is not None:
        wait(name, namespace, wait_seconds)
    return name
