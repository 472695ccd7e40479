"""``pipelines rollback --env ENV``: revert manifest changes back to an earlier version.

The result is a revert commit (the manifest as it was before the reverted commits, every other
file untouched) on a branch for a pull request, or directly on the checked-out branch (the
automatic path). It is built with git plumbing, like a promotion: nothing in the working tree or
the index changes until the commit exists and has been checked, and then only by a fast-forward.
A working tree with uncommitted changes is refused up front; nothing is ever reset.

The rollback is refused when the manifest it produces is invalid or names a digest the model
registry does not know. The version taken out is tagged ``rolled_back.<env>`` in the registry, so
promotion no longer counts it as having run successfully there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipelines.delivery.digests import ModelRegistry
from pipelines.delivery.gitops import Git
from pipelines.delivery.params import DeliveryParams
from pipelines.delivery.promote import manifest_path
from pipelines.errors import PipelineError
from pipelines.registry.manifest import ManifestError, model_key, parse_manifest


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


def _version_in(git: Git, commit: str, path: str) -> str | None:
    """The model version a historical manifest names (lenient: old formats are history too)."""
    text = git.show(commit, path)
    try:
        doc: Any = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return None
    model = doc.get("model") if isinstance(doc, dict) else None
    return str(model.get("version")) if isinstance(model, dict) else None


def plan(
    git: Git, rev: str, params: DeliveryParams, env: str, to_version: str | None
) -> tuple[list[str], str | None]:
    """The manifest commits to revert (newest first) and the manifest text they lead back to.

    Args:
        git: The repository.
        rev: Revision whose history is read.
        params: Delivery params.
        env: Environment.
        to_version: Version to return to; None reverts only the last manifest change.

    Returns:
        The commits and the resulting manifest text (None when the file would not exist).

    Raises:
        RollbackRefused: When there is nothing to revert or the version never ran in ``env``.
    """
    path = manifest_path(params, env)
    history = git.path_history(rev, path)
    if not history:
        raise RollbackRefused(f"{path}: no commits changed it; nothing to roll back")
    if to_version is None:
        parent = git.rev(f"{history[0]}^")
        return history[:1], git.show(parent, path) if parent else None
    for index, commit in enumerate(history):
        if _version_in(git, commit, path) == to_version:
            return history[:index], git.show(commit, path)
    raise RollbackRefused(f"{env}: version {to_version} never ran there ({path} history on {rev})")


def _check_mixed(git: Git, commits: list[str], path: str) -> None:
    for commit in commits:
        others = [f for f in git.changed_files(commit) if f != path]
        if others or not git.changed_files(commit):
            shown = ", ".join(others[:3]) + (
                f" and {len(others) - 3} more" if len(others) > 3 else ""
            )
            raise RollbackRefused(
                f"commit {commit[:12]} changes {shown or 'nothing'} besides {path}; "
                "revert it by hand"
            )


def _check_result(text: str, path: str, registry: ModelRegistry) -> str | None:
    try:
        doc = parse_manifest(text, path)
    except ManifestError as exc:
        raise RollbackRefused(f"the rolled-back manifest is invalid: {exc}") from None
    key = model_key(doc)
    if key is None:
        return None
    name, version, sha = key
    if not registry.knows(name, version, sha):
        raise RollbackRefused(
            f"{Path(path).name}: {name} {version} with sha256 {sha[:12]} is unknown to the "
            "model registry; refusing to deploy it"
        )
    return version


def _current(git: Git, rev: str, path: str) -> tuple[str, str, str] | None:
    text = git.show(rev, path)
    try:
        return model_key(parse_manifest(text, path)) if text else None
    except ManifestError:
        return None


def rollback(
    root: Path,
    params: DeliveryParams,
    env: str,
    *,
    registry: ModelRegistry,
    to_version: str | None = None,
    reason: str = "rollback",
    direct: bool = False,
    push: bool = False,
    expected_sha256: str | None = None,
) -> RollbackResult:
    """Revert manifest commits so ``env`` runs an earlier version.

    Args:
        root: Repository.
        params: Delivery params.
        env: Environment.
        registry: Model registry (digest check; the rollback is recorded there).
        to_version: Version to return to; None reverts the last manifest change.
        reason: Recorded in the commit message.
        direct: Commit on the checked-out branch instead of a ``rollback/...`` branch.
        push: Push the result.
        expected_sha256: Only roll back when the manifest still deploys this digest (the
            automatic path: a failed deploy must not revert a newer promotion).

    Raises:
        DirtyTree: Tracked files have uncommitted changes (nothing is done).
        RollbackRefused: Nothing to revert, unsafe commits, invalid result or unknown digest.
    """
    git = Git(root)
    git.require_clean(f"rollback --env {env}")
    path = manifest_path(params, env)
    original = git.run("rev-parse", "--abbrev-ref", "HEAD")
    if direct and original == "HEAD":
        raise RollbackRefused("--direct needs a checked-out branch, HEAD is detached")
    rev = "HEAD" if direct else params.base_branch
    head = git.rev(rev)
    if head is None:
        raise RollbackRefused(f"branch {rev!r} does not exist in {root}")
    current = _current(git, head, path)
    if expected_sha256 and (current is None or current[2] != expected_sha256.lower()):
        shown = f"{current[0]} {current[1]} (sha256 {current[2][:12]})" if current else "nothing"
        raise RollbackRefused(
            f"{env}: {path} on {rev} now deploys {shown}, not sha256 {expected_sha256[:12]}; "
            "not rolling back a newer change"
        )
    commits, text = plan(git, head, params, env, to_version)
    if not commits:
        return RollbackResult(env, [], None, None, to_version)
    _check_mixed(git, commits, path)
    if text is None:
        raise RollbackRefused(f"the rolled-back manifest is invalid: {path} would not exist")
    version = _check_result(text, path, registry)
    shown = version or "nothing deployed"
    listing = "\n".join(f"Reverts {c}" for c in commits)
    message = f"Rollback {env} to {shown}\n\nReason: {reason}\n\n{listing}"
    commit = git.commit_file(head, path, text, message)
    branch = None
    if direct:
        # The tree is clean and the commit only changes the manifest: a fast-forward is safe.
        git.run("merge", "--ff-only", "--quiet", commit)
    else:
        branch = f"{params.rollback_branch_prefix}/{env}/{to_version or 'previous'}"
        if not git.swap_ref(f"refs/heads/{branch}", commit):
            raise RollbackRefused(f"branch {branch} already exists: a rollback is in progress")
    if push:
        git.run("push", params.remote, f"{commit}:refs/heads/{branch or original}")
    if current is not None:
        registry.record_rolled_back(current[0], current[1], env)
    return RollbackResult(env, commits, commit, branch, version)
