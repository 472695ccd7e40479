"""``pipelines rollback --env ENV``: ``git revert`` of manifest changes back to a version.

The revert is a commit on a branch for a pull request, or directly on the current branch.

The result is refused (and the revert aborted) when the manifest it produces is invalid or names
an artifact digest the model registry does not know.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.delivery.digests import DigestRegistry
from pipelines.delivery.gitops import Git, GitError
from pipelines.delivery.params import DeliveryParams
from pipelines.delivery.promote import manifest_at, manifest_path
from pipelines.errors import PipelineError
from pipelines.registry.manifest import ManifestError, model_key, read_manifest


class RollbackRefused(PipelineError):
    """The rollback target is unknown, unsafe or would produce an invalid manifest."""


@dataclass(frozen=True)
class RollbackResult:
    """What a rollback did."""

    environment: str
    reverted: list[str]
    commit: str | None
    branch: str | None
    version: str | None  # version deployed after the rollback (None: nothing)


def plan(git: Git, rev: str, params: DeliveryParams, env: str, to_version: str | None) -> list[str]:
    """The manifest commits to revert, newest first.

    Args:
        git: The repository.
        rev: Revision whose history is read.
        params: Delivery params.
        env: Environment.
        to_version: Version to return to; None reverts only the last manifest change.

    Raises:
        RollbackRefused: When there is nothing to revert or the version never ran in ``env``.
    """
    path = manifest_path(params, env)
    history = git.path_history(rev, path)
    if not history:
        raise RollbackRefused(f"{path}: no commits changed it; nothing to roll back")
    if to_version is None:
        return history[:1]
    for index, commit in enumerate(history):
        key = model_key(manifest_at(git, commit, params, env))
        if key and key[1] == to_version:
            return history[:index]
    raise RollbackRefused(f"{env}: version {to_version} never ran there ({path} history on {rev})")


def rollback(
    root: Path,
    params: DeliveryParams,
    env: str,
    *,
    registry: DigestRegistry,
    to_version: str | None = None,
    reason: str = "rollback",
    direct: bool = False,
    push: bool = False,
) -> RollbackResult:
    """Revert manifest commits so ``env`` runs an earlier version.

    Raises:
        RollbackRefused: Nothing to revert, unsafe commits, invalid result or unknown digest.
    """
    git = Git(root)
    path = manifest_path(params, env)
    rev = "HEAD" if direct else params.base_branch
    if git.rev(rev) is None:
        raise RollbackRefused(f"branch {rev!r} does not exist in {root}")
    commits = plan(git, rev, params, env, to_version)
    if not commits:
        return RollbackResult(env, [], None, None, to_version)
    for commit in commits:
        files = git.changed_files(commit)
        if files != [path]:
            others = [f for f in files if f != path]
            shown = ", ".join(others[:3]) + (
                f" and {len(others) - 3} more" if len(others) > 3 else ""
            )
            raise RollbackRefused(
                f"commit {commit[:12]} changes {shown or 'nothing'} besides {path}; "
                "revert it by hand"
            )
    if git.run("status", "--porcelain", "--", path):
        raise RollbackRefused(f"{path} has uncommitted changes; commit or discard them first")

    original = git.run("rev-parse", "--abbrev-ref", "HEAD")
    if direct and original == "HEAD":
        raise RollbackRefused("--direct needs a checked-out branch, HEAD is detached")
    # Switching back to a detached HEAD needs its commit, not the name "HEAD".
    back = ["--detach", git.run("rev-parse", "HEAD")] if original == "HEAD" else [original]
    branch = None
    if not direct:
        target = to_version or "previous"
        branch = f"{params.rollback_branch_prefix}/{env}/{target}"
        if git.rev(f"refs/heads/{branch}") is not None:
            raise RollbackRefused(f"branch {branch} already exists: a rollback is in progress")
        git.run("switch", "--quiet", "-c", branch, rev)
    try:
        git.run("revert", "--no-commit", *commits)
        version = _check_result(root / path, registry)
    except (GitError, PipelineError):
        git.run("revert", "--abort", check=False)
        git.run("reset", "--quiet", "--hard", "HEAD", check=False)
        if branch:
            git.run("switch", "--quiet", *back, check=False)
            git.run("branch", "-D", branch, check=False)
        raise
    shown = version or "nothing deployed"
    listing = "\n".join(f"Reverts {c}" for c in commits)
    git.run(
        "commit", "--quiet", "-m", f"Rollback {env} to {shown}\n\nReason: {reason}\n\n{listing}"
    )
    commit = git.rev("HEAD") or ""
    if push:
        git.run("push", params.remote, f"HEAD:refs/heads/{branch or original}")
    if branch:
        git.run("switch", "--quiet", *back)
    return RollbackResult(env, commits, commit, branch, version)


def _check_result(manifest_file: Path, registry: DigestRegistry) -> str | None:
    try:
        doc = read_manifest(manifest_file)
    except ManifestError as exc:
        raise RollbackRefused(f"the rolled-back manifest is invalid: {exc}") from None
    key = model_key(doc)
    if key is None:
        return None
    name, version, sha = key
    if not registry.knows(name, version, sha):
        raise RollbackRefused(
            f"{manifest_file.name}: {name} {version} with sha256 {sha[:12]} is unknown to the "
            "model registry; refusing to deploy it"
        )
    return version
