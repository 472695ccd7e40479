"""Helpers of the seam-break tests: a copy of the repository, one edit, its workflow steps.

Each seam test copies the repository's tracked files, applies one break by editing the copy's
real files (``break_file`` fails when the text to break is not there, so a test cannot pass
because its break silently did not apply) and runs the piece the week in the life runs at
that seam, from the copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO_ROOT

VENV = Path(sys.executable).parent.parent
# Generous bounds (a 2-core machine shared by many jobs): a piece that needs longer is broken.
TIMEOUT = 600.0
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Seam Test",
    "GIT_AUTHOR_EMAIL": "seam@example.invalid",
    "GIT_COMMITTER_NAME": "Seam Test",
    "GIT_COMMITTER_EMAIL": "seam@example.invalid",
}


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` (fixed identity, no system or user config); fail with its stderr."""
    env = {**os.environ, **GIT_IDENTITY, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd)}
    proc = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} in {cwd}: {proc.stderr.strip()}")
    return proc.stdout


def copy_repository(dest: Path, *, git_repo: bool = False, venv: bool = False) -> Path:
    """The repository's tracked files under ``dest`` (a git repository on ``main`` if asked).

    ``venv`` links ``.venv`` to the running venv: what ``make setup`` gives a workflow job.
    """
    names = git(REPO_ROOT, "ls-files", "-z").split("\0")
    for name in filter(None, names):
        source, target = REPO_ROOT / name, dest / name
        if not (source.is_file() or source.is_symlink()):
            continue  # deleted in the working tree
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(source.readlink())
        else:
            shutil.copy2(source, target)
    if git_repo:
        git(dest, "init", "-q", "--initial-branch=main")
        git(dest, "add", "-A")
        git(dest, "commit", "-qm", "copy of the repository")
    if venv:
        (dest / ".venv").symlink_to(VENV)
    return dest


def break_file(repo: Path, name: str, old: str, new: str) -> None:
    """Replace the one occurrence of ``old`` in ``repo/name`` by ``new`` (the break)."""
    path = repo / name
    text = path.read_text()
    if text.count(old) != 1:
        raise AssertionError(f"{name}: expected one {old!r} to break, found {text.count(old)}")
    path.write_text(text.replace(old, new))


def commit_all(repo: Path, message: str) -> None:
    """Commit every change of the copy (a break that the workflows must see in git)."""
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def workflow_step(repo: Path, workflow: str, job: str, step_name: str) -> dict[str, Any]:
    """The step named ``step_name`` of ``job`` in ``.github/workflows/<workflow>`` of ``repo``."""
    doc = yaml.safe_load((repo / ".github" / "workflows" / workflow).read_text())
    for step in doc["jobs"][job]["steps"]:
        if step.get("name") == step_name:
            found: dict[str, Any] = step
            return found
    raise AssertionError(f"{workflow}: job {job} has no step {step_name!r}")


def run_step(
    repo: Path, step: dict[str, Any], env: dict[str, str], timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """A ``run:`` step as the runner runs it (GitHub's default shell ``bash -e {0}``)."""
    script = repo.parent / f"{repo.name}-step.sh"
    script.write_text(str(step["run"]) + "\n")
    return subprocess.run(  # noqa: S603 - the step's own script
        ["bash", "-e", str(script)],  # noqa: S607
        cwd=repo,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def deploy_template(repo: Path) -> dict[str, Any]:
    """``deploy/argo/deploy.yaml`` of ``repo``."""
    doc: dict[str, Any] = yaml.safe_load((repo / "deploy" / "argo" / "deploy.yaml").read_text())
    return doc


def dag_task(template: dict[str, Any], name: str) -> dict[str, Any]:
    """The task ``name`` of the deploy DAG."""
    entry = next(t for t in template["spec"]["templates"] if t["name"] == "deploy")
    task: dict[str, Any] = next(t for t in entry["dag"]["tasks"] if t["name"] == name)
    return task
