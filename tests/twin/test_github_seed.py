"""Seeding the origin: the working tree as it is (uncommitted work included), then the profile."""

from __future__ import annotations

import subprocess
from pathlib import Path

from twin.github.gitrepo import BareRepo
from twin.github.seed import seed, snapshot_files


def git(cwd: Path, *args: str) -> str:
    ident = ["-c", "user.name=Dev", "-c", "user.email=dev@example.invalid"]
    return subprocess.run(
        ["git", *ident, *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def make_source(folder: Path) -> Path:
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "app.py").write_text("print('committed')\n")
    (folder / "params.yaml").write_text("budget: 100\n")
    (folder / "gone.txt").write_text("deleted before seeding\n")
    (folder / ".gitignore").write_text(".venv/\n*.log\n")
    git(folder, "init", "-q", "--initial-branch=main")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "base")
    (folder / "src" / "app.py").write_text("print('uncommitted edit')\n")
    (folder / "src" / "new.py").write_text("print('untracked, not ignored')\n")
    (folder / ".venv").mkdir()
    (folder / ".venv" / "big").write_text("ignored\n")
    (folder / "run.log").write_text("ignored\n")
    (folder / "gone.txt").unlink()
    return folder


def test_seed_snapshots_the_working_tree_and_commits_the_profile(tmp_path: Path) -> None:
    source = make_source(tmp_path / "source")
    assert snapshot_files(source) == [".gitignore", "params.yaml", "src/app.py", "src/new.py"]

    def profile(folder: Path) -> list[str]:
        (folder / "params.yaml").write_text("budget: 5\n")
        return ["params.yaml"]

    home = tmp_path / "home"
    sha = seed(home, source, profile)
    repo = BareRepo(home / "github" / "repos", "trading-pipelines/gitops")
    assert repo.rev("refs/heads/main") == sha
    assert repo.show(sha, "src/app.py") == "print('uncommitted edit')\n"
    assert repo.show(sha, "src/new.py") is not None
    assert repo.show(sha, "params.yaml") == "budget: 5\n"
    assert repo.show(f"{sha}~1", "params.yaml") == "budget: 100\n"
    assert repo.show(sha, "gone.txt") is None and repo.show(sha, "run.log") is None
    assert repo.list_dir(sha, ".venv") == []
    messages = [c["message"] for c in repo.commits(None, sha)]
    assert messages[0].startswith("Snapshot of the source tree")
    assert messages[1] == "twin profile\n\n- params.yaml"
    # Seeding again replaces main (a fresh twin), and the source repository is untouched.
    assert seed(home, source, lambda folder: []) != sha
    assert git(source, "status", "--porcelain").count("\n") == 3
