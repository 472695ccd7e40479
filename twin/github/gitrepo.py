"""The origin: a bare git repository and the few plumbing operations the fake GitHub needs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from twin.errors import TwinError

ZERO = "0" * 40
_HOOK = '''#!{python}
"""pre-receive: ask the fake GitHub whether this push may land (branch protection)."""
import json, os, sys, urllib.request  # noqa
push = os.environ.get("TWIN_GITHUB_PUSH_ID")
url = os.environ.get("TWIN_GITHUB_URL")
if not push or not url:
    sys.exit(0)  # a push by the twin itself (seed), not through the fake GitHub
import subprocess
zero = "0" * 40
updates = []
for line in sys.stdin.read().splitlines():
    if not line.strip():
        continue
    old, new, ref = line.split()
    ff, workflows = "ff", []
    if zero not in (old, new):
        check = subprocess.run(["git", "merge-base", "--is-ancestor", old, new], check=False)
        ff = "ff" if check.returncode == 0 else "nonff"
    if new != zero:
        base = old if old != zero else os.environ.get("TWIN_GITHUB_DEFAULT_REF", "")
        known = base and subprocess.run(["git", "rev-parse", "-q", "--verify", base],
                                        capture_output=True, check=False).returncode == 0
        argv = ["git", "diff", "--name-only", base, new] if known else ["git", "ls-tree", "-r",
                                                                         "--name-only", new]
        out = subprocess.run([*argv, "--", ".github/workflows"], capture_output=True,
                             text=True, check=False)
        workflows = [name for name in out.stdout.splitlines() if name]
    updates.append([old, new, ref, ff, workflows])
body = json.dumps({{"push_id": push, "updates": updates}}).encode()
req = urllib.request.Request(url + "/_twin/pre-receive", data=body, method="POST",
                             headers={{"Content-Type": "application/json"}})
with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
    answer = json.loads(resp.read())
for line in answer.get("messages", []):
    sys.stderr.write(line + "\\n")
sys.exit(0 if answer.get("ok") else 1)
'''
GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment for git commands run by the twin itself."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
    return {**env, **GIT_ENV, **(extra or {})}


class BareRepo:
    """The bare repository ``<root>/<owner>/<name>.git`` (smart HTTP serves ``root``)."""

    def __init__(self, root: Path, full_name: str) -> None:
        self.root = root
        self.path = root / f"{full_name}.git"
        self.lock = threading.RLock()  # serialises ref updates made by the server

    def git(self, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> str:
        """Run git in the bare repository; stdout as text.

        Raises:
            TwinError: git failed (its stderr in the message).
        """
        proc = subprocess.run(  # noqa: S603 - fixed argv
            ["git", *args],  # noqa: S607
            cwd=self.path,
            input=stdin,
            capture_output=True,
            env=git_env(env),
            check=False,
        )
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace").strip().splitlines()
            raise TwinError(f"git {args[0]} in the origin failed: {' | '.join(err[-3:])}")
        return proc.stdout.decode(errors="replace")

    def init(self, default_branch: str = "main") -> None:
        """Create the bare repository (idempotent) with the pre-receive hook."""
        if not (self.path / "HEAD").exists():
            self.path.mkdir(parents=True, exist_ok=True)
            self.git("init", "--bare", "--quiet", f"--initial-branch={default_branch}")
        for key, value in (
            ("http.receivepack", "true"),
            ("uploadpack.allowReachableSHA1InWant", "true"),
            ("uploadpack.allowAnySHA1InWant", "true"),
            ("receive.advertisePushOptions", "false"),
            ("core.logAllRefUpdates", "true"),
        ):
            self.git("config", key, value)
        hook = self.path / "hooks" / "pre-receive"
        hook.parent.mkdir(exist_ok=True)
        hook.write_text(_HOOK.format(python=sys.executable), encoding="utf-8")
        hook.chmod(0o755)

    def refs(self) -> dict[str, str]:
        """Every ref and its commit."""
        out = self.git("for-each-ref", "--format=%(refname) %(objectname)")
        pairs = (line.split(" ", 1) for line in out.splitlines() if line)
        return {ref: sha for ref, sha in pairs}

    def rev(self, rev: str) -> str | None:
        """The commit SHA of ``rev``, or None."""
        try:
            return self.git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").strip() or None
        except TwinError:
            return None

    def set_ref(self, ref: str, sha: str, old: str | None = None) -> None:
        """Point ``ref`` at ``sha`` (compare-and-swap against ``old`` when given)."""
        self.git("update-ref", ref, sha, *([old] if old else []))

    def delete_ref(self, ref: str) -> None:
        """Remove ``ref`` if it exists."""
        if self.rev(ref):
            self.git("update-ref", "-d", ref)

    def changed_files(self, before: str | None, after: str) -> list[str]:
        """Paths changed from ``before`` to ``after`` (all files of ``after`` without a base)."""
        if not before or before == ZERO:
            return self.git("ls-tree", "-r", "--name-only", after).splitlines()
        return self.git("diff", "--name-only", "--no-renames", before, after).splitlines()

    def merge_base(self, a: str, b: str) -> str | None:
        """The best common ancestor of two commits, or None."""
        try:
            return self.git("merge-base", a, b).strip() or None
        except TwinError:
            return None

    def is_ancestor(self, ancestor: str, commit: str) -> bool:
        """Whether ``ancestor`` is reachable from ``commit``."""
        try:
            self.git("merge-base", "--is-ancestor", ancestor, commit)
            return True
        except TwinError:
            return False

    def merge_tree(self, base: str, head: str) -> str | None:
        """The tree of merging ``head`` into ``base``, or None on a conflict."""
        try:
            return self.git("merge-tree", "--write-tree", base, head).splitlines()[0].strip()
        except TwinError:
            return None

    def commit_tree(
        self, tree: str, parents: list[str], message: str, author: tuple[str, str]
    ) -> str:
        """A new commit object (author as given, committer ``GitHub``)."""
        env = {
            "GIT_AUTHOR_NAME": author[0],
            "GIT_AUTHOR_EMAIL": author[1],
            "GIT_COMMITTER_NAME": "GitHub",
            "GIT_COMMITTER_EMAIL": "noreply@github.com",
        }
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        return self.git(*args, stdin=message.encode(), env=env).strip()

    def show(self, sha: str, path: str) -> str | None:
        """A file's text at ``sha``, or None when it does not exist there."""
        try:
            return self.git("show", f"{sha}:{path}")
        except TwinError:
            return None

    def list_dir(self, sha: str, folder: str) -> list[str]:
        """File paths directly in ``folder`` at ``sha``."""
        try:
            out = self.git("ls-tree", "--name-only", f"{sha}:{folder}")
        except TwinError:
            return []
        return [f"{folder}/{name}" for name in out.splitlines() if name]

    def commits(self, before: str | None, after: str, limit: int = 20) -> list[dict[str, str]]:
        """Commits in ``before..after`` (oldest first): id, message, author name and email."""
        span = after if not before or before == ZERO else f"{before}..{after}"
        out = self.git(
            "log", "--reverse", f"--max-count={limit}", "--format=%H%x1f%an%x1f%ae%x1f%B%x1e", span
        )
        commits = []
        for record in out.split("\x1e"):
            fields = record.strip("\n").split("\x1f")
            if len(fields) == 4:
                commits.append(
                    {
                        "id": fields[0],
                        "name": fields[1],
                        "email": fields[2],
                        "message": fields[3].strip(),
                    }
                )
        return commits
