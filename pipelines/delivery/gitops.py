"""A thin wrapper over the ``git`` command line (the only I/O promotion and rollback do in git).

Promotion commits are made with plumbing (a private index, ``commit-tree``) so they touch exactly
one file whatever the working tree holds, and branch refs are created with a compare-and-swap
(``update-ref <ref> <new> <zero-oid>``): of two promotions racing for the same branch, one wins.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import PipelineError

ZERO_OID = "0" * 40


class GitError(PipelineError):
    """A git command failed; the message carries git's own first line of error."""


class DirtyTree(PipelineError):
    """Uncommitted changes to tracked files: a git-writing command refuses to start."""


@dataclass(frozen=True)
class Git:
    """Runs git in one repository."""

    root: Path

    def run(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        check: bool = True,
        strip: bool = True,
    ) -> str:
        """Run ``git <args>`` and return its stdout (trailing newlines stripped unless ``strip``).

        Raises:
            GitError: When git exits non-zero and ``check`` is set.
        """
        full_env = {**os.environ, **(env or {})}
        proc = subprocess.run(  # noqa: S603 - fixed executable, arguments are not shell-parsed
            ["git", "-C", str(self.root), *args],  # noqa: S607
            capture_output=True,
            text=True,
            env=full_env,
            check=False,
        )
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            first = detail[0] if detail else f"exit status {proc.returncode}"
            raise GitError(f"git {' '.join(args[:2])}: {first}")
        return proc.stdout.rstrip("\n") if strip else proc.stdout

    def rev(self, ref: str) -> str | None:
        """The commit a ref points to, or None when it does not exist."""
        out = self.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        return out or None

    def show(self, rev: str, path: str) -> str | None:
        """A file's exact text at a revision, or None when it does not exist there.

        Exact, final newline included: a rollback writes it back, and one byte of difference
        renames the manifest's generated ConfigMap, so the pod template would no longer be the
        stable one and Argo would walk every canary step again instead of skipping them.
        """
        if not self.run("ls-tree", rev, "--", path, check=False):
            return None
        return self.run("show", f"{rev}:{path}", strip=False)

    def path_history(self, rev: str, path: str) -> list[str]:
        """Commits reachable from ``rev`` that changed ``path``, newest first."""
        out = self.run("log", "--format=%H", rev, "--", path)
        return out.split() if out else []

    def changed_files(self, commit: str) -> list[str]:
        """Files a (non-merge) commit changed against its first parent."""
        out = self.run("diff-tree", "--no-commit-id", "--name-only", "-r", "--root", commit)
        return out.splitlines()

    def commit_file(self, parent: str, path: str, content: str, message: str) -> str:
        """Create (not check out) a commit on top of ``parent`` that changes only ``path``.

        Args:
            parent: Commit the new one builds on.
            path: Repository-relative file to set.
            content: New text of the file.
            message: Commit message.

        Returns:
            The new commit's id.
        """
        with tempfile.TemporaryDirectory(prefix="pipelines-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=tmp, delete=False) as fh:
                fh.write(content)
            blob = self.run("hash-object", "-w", "--", fh.name)
            self.run("read-tree", parent, env=env)
            self.run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
            tree = self.run("write-tree", env=env)
        return self.run("commit-tree", tree, "-p", parent, "-m", message)

    def swap_ref(self, ref: str, commit: str, old: str = ZERO_OID) -> bool:
        """Point ``ref`` at ``commit`` only if it still points at ``old`` (compare-and-swap).

        With the default ``old`` the ref must not exist yet.

        Returns:
            True when this call moved it, False when someone else got there first.
        """
        out = subprocess.run(  # noqa: S603
            ["git", "-C", str(self.root), "update-ref", ref, commit, old],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
        return out.returncode == 0

    def tree_of(self, rev: str) -> str:
        """The tree id of a commit."""
        return self.run("rev-parse", f"{rev}^{{tree}}")

    def dirty_files(self) -> list[str]:
        """Tracked files with staged or unstaged changes (untracked files are never at risk)."""
        out = self.run("status", "--porcelain=v1", "-z", "--untracked-files=no")
        entries = [e for e in out.split("\0") if e]
        files: list[str] = []
        skip = False
        for entry in entries:
            if skip:  # the source path of a rename
                skip = False
                continue
            files.append(entry[3:])
            skip = entry[0] in "RC"
        return files

    def require_clean(self, command: str) -> None:
        """Refuse to go on (one line naming the files) when tracked files have changes.

        Raises:
            DirtyTree: Uncommitted changes, or a merge, revert or cherry-pick in progress.
        """
        for marker, what in (
            ("MERGE_HEAD", "merge"),
            ("REVERT_HEAD", "revert"),
            ("CHERRY_PICK_HEAD", "cherry-pick"),
        ):
            if self.rev(marker):
                raise DirtyTree(
                    f"{command}: a {what} is in progress in {self.root}; finish or abort it first"
                )
        files = self.dirty_files()
        if files:
            shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
            raise DirtyTree(
                f"{command}: uncommitted changes to {shown}; commit or stash them first "
                "(nothing was changed)"
            )

    def is_ancestor(self, ancestor: str, rev: str) -> bool:
        """Whether ``ancestor`` is reachable from ``rev``."""
        proc = subprocess.run(  # noqa: S603
            ["git", "-C", str(self.root), "merge-base", "--is-ancestor", ancestor, rev],  # noqa: S607
            capture_output=True,
            check=False,
        )
        return proc.returncode == 0
