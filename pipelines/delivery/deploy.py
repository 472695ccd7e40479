"""``pipelines deploy``: submit the Argo ``deploy`` WorkflowTemplate per changed environment, watch.

Called by the deploy GitHub workflow on every push to main under ``environments/**`` with
``--since <the push's before commit>``: an environment is deployed when its overlay or the
shared base changed anywhere in the pushed range (a push may carry several commits). Each
environment's Workflow gets the revision, the service image its manifest names (the smoke test
runs that very image) and the tools image by digest. In the cluster, one deploy per environment
runs at a time (the template's mutex). One line per environment is printed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipelines.delivery.argo import ArgoClient
from pipelines.delivery.gitops import Git
from pipelines.errors import PipelineError
from pipelines.registry import image as images
from pipelines.registry.manifest import read_manifest

TEMPLATE = "deploy"
DONE = {"Succeeded", "Failed", "Error"}
ZERO_COMMIT = "0" * 40
ENV_LABEL = "pipelines.trading/environment"
# Seconds between polls of the Argo Server while watching (the CLI's --poll default).
POLL_SECONDS = 1.0


class DeployError(PipelineError):
    """The deploy workflow could not be submitted or did not succeed."""


@dataclass(frozen=True)
class Outcome:
    """What happened to one environment."""

    environment: str
    model_version: str
    workflow: str | None = None
    phase: str = "skipped"
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Skipped, submitted without waiting, or succeeded."""
        return self.phase in ("skipped", "Submitted", "Succeeded")

    def line(self) -> str:
        """One line for the log."""
        if self.workflow is None:
            return f"{self.environment}: {self.detail}"
        tail = f" ({self.detail})" if self.detail else ""
        return (
            f"{self.environment}: workflow {self.workflow} {self.phase}, "
            f"model {self.model_version}{tail}"
        )


def changed_environments(
    git: Git, since: str | None, environments: list[str], environments_dir: str = "environments"
) -> list[str]:
    """The environments whose overlay or the shared base changed between ``since`` and HEAD.

    ``since`` None or the all-zero commit (a new branch) means every environment.

    Raises:
        DeployError: ``since`` is not in the clone (fetch the history first).
    """
    if not since or since == ZERO_COMMIT:
        return list(environments)
    if git.rev(since) is None:
        raise DeployError(
            f"--since {since}: commit not in this clone (check out with fetch-depth: 0)"
        )
    changed = []
    for env in environments:
        out = git.run(
            "diff",
            "--name-only",
            since,
            "HEAD",
            "--",
            f"{environments_dir}/{env}",
            f"{environments_dir}/base",
        )
        if out.strip():
            changed.append(env)
    return changed


def manifest_version(root: Path, env: str, environments_dir: str = "environments") -> str:
    """Model version that ``env``'s manifest names (``none`` when nothing is deployed)."""
    model = read_manifest(root / environments_dir / env / "model.yaml").get("model")
    return str(model["version"]) if model else "none"


def parameters(
    root: Path, env: str, revision: str, tools_image: str, environments_dir: str = "environments"
) -> dict[str, str]:
    """The deploy template's arguments for ``env`` (reads and checks its manifest).

    Raises:
        DeployError: The tools image is not pinned by digest.
    """
    doc = read_manifest(root / environments_dir / env / "model.yaml")
    try:
        images.split(tools_image, "--tools-image")
    except images.ImageError as exc:
        raise DeployError(str(exc)) from None
    return {
        "environment": env,
        "revision": revision,
        "image": str(doc["image"]),
        "tools-image": tools_image,
    }


def watch(
    client: ArgoClient,
    names: dict[str, str],
    timeout_seconds: float,
    *,
    poll_seconds: float = POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, str]:
    """Poll each Workflow (by environment) until all finish or the time is up; their phases."""
    phases = dict.fromkeys(names, "")
    deadline = clock() + timeout_seconds
    while True:
        for env, name in names.items():
            if phases[env] not in DONE:
                phases[env] = client.phase(name)
        if all(p in DONE for p in phases.values()) or clock() >= deadline:
            return phases
        sleep(poll_seconds)


def deploy(
    root: Path,
    environments: list[str],
    client: ArgoClient,
    *,
    since: str | None,
    tools_image: str,
    wait_seconds: float | None,
    poll_seconds: float = POLL_SECONDS,
) -> list[Outcome]:
    """Submit a deploy Workflow for every changed environment and (optionally) watch them.

    Raises:
        DeployError: ``since`` unknown, a manifest deploys nothing, or an image is not pinned.
    """
    git = Git(root)
    revision = git.run("rev-parse", "HEAD")
    changed = changed_environments(git, since, environments)
    outcomes: dict[str, Outcome] = {}
    names: dict[str, str] = {}
    for env in environments:
        version = manifest_version(root, env)
        if env not in changed:
            outcomes[env] = Outcome(env, version, detail=f"unchanged since {since}; not deploying")
            continue
        if version == "none":
            outcomes[env] = Outcome(env, version, detail="model is null; nothing to deploy")
            continue
        args = parameters(root, env, revision, tools_image)
        names[env] = client.submit(TEMPLATE, args, {ENV_LABEL: env})
        outcomes[env] = Outcome(env, version, names[env], "Submitted")
    if wait_seconds is not None and names:
        phases = watch(client, names, wait_seconds, poll_seconds=poll_seconds)
        for env, phase in phases.items():
            late = "" if phase in DONE else f"still {phase or 'Pending'} after {wait_seconds:.0f}s"
            # Name the step that failed (the smoke request, the verification...), not only "Failed".
            failed = client.failed_steps(names[env]) if phase in ("Failed", "Error") else []
            detail = late or ("failed: " + "; ".join(failed) if failed else "")
            outcomes[env] = Outcome(
                env,
                outcomes[env].model_version,
                names[env],
                phase if not late else "Timeout",
                detail,
            )
    return [outcomes[env] for env in environments]
