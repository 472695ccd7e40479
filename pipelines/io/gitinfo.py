"""The checkout's commit, as runs and CI records name it (no heavy imports: CI steps call it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def git_commit(root: Path) -> str | None:
    """HEAD's commit in ``root``, or None outside a git checkout.

    Args:
        root: A folder inside the checkout.

    Returns:
        The full hex commit, or None when git is missing or ``root`` is not in a checkout.
    """
    git = shutil.which("git")
    if git is None:
        return None
    done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [git, "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or None if done.returncode == 0 else None
