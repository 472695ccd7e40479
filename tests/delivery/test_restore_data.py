"""pipelines restore-data: real DVC in a temporary repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.delivery.restore_data import RestoreError, diff_locks, restore
from tests.conftest import require_tool
from tests.delivery.gitrepo import git

STAGE = """stages:
  double:
    cmd: python double.py
    deps: [raw.txt, double.py]
    outs: [out.txt]
"""


def dvc(root: Path, *args: str) -> None:
    exe = require_tool("dvc")
    subprocess.run([exe, *args], cwd=root, check=True, capture_output=True)


def test_diff_locks_is_pure() -> None:
    before = {"stages": {"a": {"outs": [{"path": "x", "md5": "1"}, {"path": "y", "md5": "2"}]}}}
    after = {"stages": {"a": {"outs": [{"path": "x", "md5": "3"}, {"path": "z", "md5": "4"}]}}}
    assert [c.describe() for c in diff_locks(before, after)] == [
        "x: 1 -> 3",
        "y: 2 -> absent",
        "z: absent -> 4",
    ]


@pytest.mark.slow
def test_restore_brings_back_old_data_and_revalidates(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "config", "user.email", "t@example.invalid")
    git(root, "config", "user.name", "t")
    dvc(root, "init", "--quiet")
    (root / "dvc.yaml").write_text(STAGE)
    (root / "double.py").write_text(
        "import pathlib\n"
        "pathlib.Path('out.txt').write_text(pathlib.Path('raw.txt').read_text() * 2)\n"
    )
    (root / "raw.txt").write_text("v1\n")
    dvc(root, "repro", "--quiet")
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "data v1")
    first = git(root, "rev-parse", "HEAD")
    (root / "raw.txt").write_text("v2\n")
    dvc(root, "repro", "--quiet")
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "data v2")
    assert (root / "out.txt").read_text() == "v2\nv2\n"

    check = [
        sys.executable,
        "-c",
        "import pathlib; assert pathlib.Path('out.txt').read_text() == 'v1\\nv1\\n'",
    ]
    changes = restore(root, first, pull=False, validate=check)
    assert [c.path for c in changes] == ["out.txt"]
    assert (root / "out.txt").read_text() == "v1\nv1\n"
    assert git(root, "diff", "--name-only", "HEAD") == "dvc.lock"

    with pytest.raises(RestoreError, match="failed"):
        restore(root, "HEAD", pull=False, validate=check)
    with pytest.raises(RestoreError, match="not a commit"):
        restore(root, "no-such-rev", pull=False, validate=None)
