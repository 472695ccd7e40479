"""``pipelines restore-data --to REV``: bring back the DVC-tracked data of a git revision.

Checks out that revision's ``dvc.lock``, runs ``dvc checkout`` (or ``dvc pull`` when the cache
lacks the files), re-runs data validation, and reports which outputs changed.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipelines.delivery.gitops import Git
from pipelines.errors import PipelineError

_NO_TELEMETRY = {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
}


class RestoreError(PipelineError):
    """The revision, the DVC checkout or the validation failed."""


@dataclass(frozen=True)
class Change:
    """One DVC output whose content differs between two ``dvc.lock`` files."""

    path: str
    before: str | None
    after: str | None

    def describe(self) -> str:
        """One line: path and short hashes."""

        def short(value: str | None) -> str:
            return value[:8] if value else "absent"

        return f"{self.path}: {short(self.before)} -> {short(self.after)}"


def lock_outputs(lock: Any) -> dict[str, str]:
    """``{out path: md5}`` of every stage output in a loaded ``dvc.lock`` (pure)."""
    found: dict[str, str] = {}
    stages = (lock or {}).get("stages", {}) if isinstance(lock, dict) else {}
    for stage in stages.values():
        for out in stage.get("outs", []) or []:
            digest = out.get("md5") or out.get("hash") or out.get("etag") or ""
            found[str(out["path"])] = str(digest)
    return found


def diff_locks(before: Any, after: Any) -> list[Change]:
    """Outputs added, removed or changed between two loaded ``dvc.lock`` files (pure)."""
    old, new = lock_outputs(before), lock_outputs(after)
    return [
        Change(path, old.get(path), new.get(path))
        for path in sorted(set(old) | set(new))
        if old.get(path) != new.get(path)
    ]


def _run(cmd: list[str], root: Path, what: str) -> None:
    proc = subprocess.run(  # noqa: S603 - fixed argument vector
        cmd,
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, **_NO_TELEMETRY},
        check=False,
    )
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise RestoreError(f"{what} failed: {lines[-1] if lines else proc.returncode}")


def restore(root: Path, rev: str, *, pull: bool, validate: list[str] | None) -> list[Change]:
    """Restore ``dvc.lock`` and the data of ``rev`` into the working tree.

    Args:
        root: Repository root.
        rev: Git revision whose data to restore.
        pull: Fetch missing files from the DVC remote (``dvc pull``) instead of the local cache.
        validate: Validation command to re-run afterwards (None: skip).

    Returns:
        The outputs that changed.
    """
    git = Git(root)
    if git.rev(rev) is None:
        raise RestoreError(f"--to {rev}: not a commit in {root}")
    text = git.show(rev, "dvc.lock")
    if text is None:
        raise RestoreError(f"{rev}: has no dvc.lock; nothing to restore")
    lock_file = root / "dvc.lock"
    before = yaml.safe_load(lock_file.read_text(encoding="utf-8")) if lock_file.exists() else {}
    git.run("checkout", rev, "--", "dvc.lock")
    changes = diff_locks(before, yaml.safe_load(text))
    dvc = ["dvc", "pull" if pull else "checkout", "--force"]
    _run(dvc, root, " ".join(dvc))
    if validate:
        _run(validate, root, " ".join(validate))
    return changes
