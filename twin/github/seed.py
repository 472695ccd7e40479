"""Seed the origin: a snapshot of the source tree plus the "twin profile" commit, as ``main``.

The snapshot holds the tracked files and the untracked files git does not ignore, as they are
on disk, so a developer's uncommitted work is what the twin tests. ``apply_profile`` edits the
snapshot in place and returns the paths it changed; they are committed as "twin profile".
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from twin.errors import TwinError
from twin.github.config import REPOSITORY
from twin.github.gitrepo import BareRepo, git_env

AUTHOR = {
    "GIT_AUTHOR_NAME": "twin",
    "GIT_AUTHOR_EMAIL": "twin@twin.invalid",
    "GIT_COMMITTER_NAME": "twin",
    "GIT_COMMITTER_EMAIL": "twin@twin.invalid",
}


def _git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(  # noqa: S603 - fixed argv
        ["git", *args],  # noqa: S607
        cwd=cwd,
        capture_output=True,
        env=git_env(AUTHOR),
        check=False,
    )
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.decode(errors="replace").strip().splitlines()[-3:])
        raise TwinError(f"seed: git {args[0]} in {cwd} failed: {tail}")
    return proc.stdout.decode(errors="replace")


def snapshot_files(source: Path) -> list[str]:
    """Tracked plus untracked-not-ignored paths of ``source`` that exist on disk."""
    out = _git(source, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    names = sorted({name for name in out.split("\0") if name})
    return [name for name in names if (source / name).is_file() or (source / name).is_symlink()]


def _copy(source: Path, dest: Path, names: list[str]) -> None:
    for name in names:
        src, dst = source / name, dest / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(src.readlink())
        else:
            shutil.copy2(src, dst)


def seed(home: Path, source: Path, apply_profile: Callable[[Path], list[str]]) -> str:
    """Push the snapshot and the profile commit as ``main`` of the origin; returns its SHA.

    Args:
        home: The twin home (the origin is ``<home>/github/repos/<owner>/<name>.git``).
        source: A git working tree (the repository under test).
        apply_profile: Edits the snapshot folder in place; returns the changed paths.
    """
    repo = BareRepo(home / "github" / "repos", REPOSITORY)
    repo.init()
    head = (
        _git(source, "rev-parse", "--short", "HEAD").strip()
        if (source / ".git").exists()
        else "none"
    )
    names = snapshot_files(source)
    with tempfile.TemporaryDirectory(prefix="twin-seed-") as tmp:
        work = Path(tmp)
        _copy(source, work, names)
        _git(work, "init", "--quiet", "--initial-branch=main")
        _git(work, "add", "--all")
        _git(
            work,
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            f"Snapshot of the source tree (HEAD {head}, with uncommitted work)",
        )
        changed = apply_profile(work)
        _git(work, "add", "--all")
        detail = "\n".join(f"- {path}" for path in changed) or "- (no change)"
        _git(
            work,
            "commit",
            "--quiet",
            "--no-verify",
            "--allow-empty",
            "-m",
            f"twin profile\n\n{detail}\n",
        )
        _git(work, "push", "--quiet", "--force", str(repo.path), "HEAD:refs/heads/main")
        sha = _git(work, "rev-parse", "HEAD").strip()
    if repo.rev("refs/heads/main") != sha:
        raise TwinError(f"seed: the origin's main is not {sha} after the push")
    return sha
