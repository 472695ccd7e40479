"""``pipelines data rollback`` / ``restore-data``: bring back the data of a git revision, whole.

All or nothing, in this order, and nothing in the work tree changes before step 5:

1. Resolve the revision (``--to REV``, or ``--date``: the newest commit of the current branch's
   first-parent history at or before that time) and read its ``dvc.lock`` and ``params.yaml``.
2. Plan (:mod:`pipelines.delivery.restore_plan`): the outputs of the data stages that differ;
   the raw archive is never replaced, outputs the revision lacks are never deleted.
3. Refuse to overwrite work: uncommitted edits of ``dvc.lock`` or of a git-tracked output, a data
   output modified since ``dvc.lock``, or one whose current version is not in the DVC cache.
4. Stage every output of the revision under ``.dvc/tmp/`` through DVC (local cache, else the
   remote); one missing object stops it here. Then re-validate the staged data with the
   revision's ``params.yaml`` (the ``{params}`` argument of the validate command).
5. Swap the staged outputs in by renames, write the merged ``dvc.lock``, and check with DVC that
   the work tree matches it; on any failure every rename and the lock are undone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipelines.delivery.gitops import Git, GitError
from pipelines.delivery.restore_plan import (
    Change,
    RestoreError,
    diff_locks,
    plan_restore,
    revision_date,
)
from pipelines.delivery.restore_stage import open_dvc, stage_outputs, swap_in, unsafe_outputs
from pipelines.io import atomic

__all__ = ["Change", "RestoreError", "Restored", "diff_locks", "resolve_revision", "restore"]

_NO_TELEMETRY = {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
}
VALIDATED_KEYS = ("validated", "quarantine", "validation_report")


@dataclass(frozen=True)
class Restored:
    """What a restore did."""

    commit: str
    when: str
    changes: list[Change]
    kept: list[str]


def resolve_revision(git: Git, rev: str | None, date: str | None) -> tuple[str, str]:
    """The commit to restore and its committer date, from ``--to`` or ``--date``.

    Raises:
        RestoreError: Neither or both given, an unknown revision, or no commit that early.
    """
    if (rev is None) == (date is None):
        raise RestoreError("give --to REV or --date DATE (one of them)")
    if rev is not None:
        commit = git.rev(rev)
        if commit is None:
            raise RestoreError(f"--to {rev}: not a commit in {git.root}")
    else:
        before = revision_date(str(date))
        args = ["rev-list", "-1", "--first-parent", f"--before={before}", "HEAD", "--", "dvc.lock"]
        commit = git.run(*args) or None
        if commit is None:
            raise RestoreError(f"--date {date}: no commit changed dvc.lock at or before {before}")
    return commit, git.run("show", "-s", "--format=%cI", commit)


def _validation_params(text: str | None, commit: str, ingested: Path, check: Path) -> Path:
    """The revision's params.yaml, reading the staged bars and writing into ``check``."""
    if text is None:
        raise RestoreError(f"{commit[:12]}: has no params.yaml to re-validate with")
    params = yaml.safe_load(text) or {}
    paths = params.setdefault("paths", {})
    paths["ingested"] = str(ingested)
    for key in VALIDATED_KEYS:
        paths[key] = str(check / Path(str(paths.get(key, key))).name)
    target = check / "params.yaml"
    atomic.write_text(target, yaml.safe_dump(params, sort_keys=False))
    return target


def _revalidate(command: Sequence[str], params_file: Path, root: Path, commit: str) -> None:
    argv = [str(params_file) if part == "{params}" else part for part in command]
    if argv and argv[0] == "python":
        argv[0] = sys.executable  # the interpreter running this command, not the one on PATH
    proc = subprocess.run(  # noqa: S603 - the configured validate command, no shell
        argv, cwd=root, capture_output=True, text=True, env={**os.environ, **_NO_TELEMETRY}
    )
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or [f"exit {proc.returncode}"]
        raise RestoreError(
            f"re-validation of {commit[:12]}'s data with its params.yaml failed, nothing was "
            f"changed: {lines[-1]} (--no-validate restores without it)"
        )


def _refuse_dirty(git: Git, paths: list[str]) -> None:
    dirty = git.run("status", "--porcelain", "--untracked-files=no", "--", *paths)
    if dirty:
        names = ", ".join(line[3:] for line in dirty.splitlines())
        raise RestoreError(f"uncommitted changes in {names}: commit or stash them first")


def restore(
    root: Path,
    rev: str | None = None,
    *,
    date: str | None = None,
    stage: str | None = None,
    keep: Sequence[str] = (),
    validate: Sequence[str] | None = None,
    ingested: str | None = None,
) -> Restored:
    """Restore the data stages' outputs of a revision into the work tree, all or nothing.

    Args:
        root: Repository root.
        rev: Git revision whose data to restore (or ``date``).
        date: Restore the newest first-parent commit at or before this date/time instead.
        stage: The data stage whose outputs, and its upstream stages', are restored (None: all).
        keep: Paths never replaced (the raw archive).
        validate: Validation command run on the staged data before the swap (None: skip);
            ``{params}`` is replaced by the revision's params file, redirected to the staging.
        ingested: The ingested-bars output the validation reads (``paths.ingested``).

    Raises:
        RestoreError: Anything that refuses the restore; the work tree is then unchanged.
    """
    if shutil.which("git") is None:
        raise RestoreError("git: not found on PATH; nothing was changed")
    git = Git(root)
    commit, when = resolve_revision(git, rev, date)
    try:
        target_text = git.show(commit, "dvc.lock")
    except GitError as exc:
        raise RestoreError(str(exc)) from None
    if target_text is None:
        raise RestoreError(f"{commit[:12]}: has no dvc.lock; nothing to restore")
    lock_file = root / "dvc.lock"
    current_text = lock_file.read_text(encoding="utf-8") if lock_file.exists() else ""
    staging = root / ".dvc" / "tmp" / f"restore-{commit[:12]}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        repo = open_dvc(root)
        try:
            stages = repo.data_stages(stage)
            plan = plan_restore(
                yaml.safe_load(current_text), yaml.safe_load(target_text), stages, keep
            )
            tracked = [c.path for c in plan.changes if git.run("ls-files", "--", c.path)]
            _refuse_dirty(git, ["dvc.lock", *tracked])
            unsafe = unsafe_outputs(repo, [c.path for c in plan.changes if c.path not in tracked])
            if unsafe:
                raise RestoreError(
                    f"refusing to overwrite {'; '.join(unsafe)}; nothing was changed"
                )
            stage_outputs(repo, commit, [c.path for c in plan.changes], staging)
        finally:
            repo.close()
        if validate:
            text = git.show(commit, "params.yaml")
            rev_paths = (yaml.safe_load(text or "") or {}).get("paths", {})
            bars_path = str(rev_paths.get("ingested") or ingested or "")
            if not bars_path:
                raise RestoreError(f"{commit[:12]}: params.yaml has no paths.ingested")
            staged = staging / bars_path
            bars = staged if staged.exists() else root / bars_path
            _revalidate(
                validate, _validation_params(text, commit, bars, staging / "check"), root, commit
            )
        new_lock = yaml.safe_dump(plan.lock, sort_keys=False)
        swap_in(root, staging, plan.changes, lock_file, new_lock, current_text)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Restored(commit, when, plan.changes, plan.kept)
