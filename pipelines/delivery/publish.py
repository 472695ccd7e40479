"""``pipelines publish``: commit what a scheduled run produced, as the bot, to main or a PR.

The nightly data run and the weekly training run end with ``dvc push`` (the data goes to the DVC
remote) and this command (``dvc.lock`` and the small outputs that DVC leaves to git go to the
repository). Two modes, chosen by the repository variable ``DATA_COMMIT_MODE``:

- ``push`` (default): commit on top of the checked-out main and push it; when main moved since
  the checkout, rebase once onto the new main and push again. Needs a token allowed to push to
  main (the GitHub App, listed as a bypass actor when main is protected).
- ``pr``: push the commit to a new branch and open a pull request (branch protection without
  bypass); the pull request runs CI like any other because the App token opened it.

Git identity and credentials come from the environment (``.github/scripts/as-bot`` sets them for
one step), so nothing is written to ``.git/config``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pipelines.delivery.gitops import Git, GitError
from pipelines.errors import PipelineError

Mode = Literal["push", "pr"]
MODES: tuple[Mode, ...] = ("push", "pr")


class PullOpener(Protocol):
    """What ``pr`` mode needs from a GitHub client (``GitHubClient`` has it)."""

    def open_pull(self, head: str, base: str, title: str, body: str) -> tuple[dict[str, Any], bool]:
        """Open (or update) the pull request from ``head`` into ``base``."""
        ...


class PublishError(PipelineError):
    """The outputs could not be committed or pushed."""


@dataclass(frozen=True)
class Published:
    """What a publish did: ``commit`` is None when there was nothing to commit."""

    mode: Mode
    commit: str | None
    branch: str | None = None
    pull_request: int | None = None


def check_mode(value: str) -> Mode:
    """The commit mode from ``--mode``/``DATA_COMMIT_MODE`` (empty means ``push``).

    Raises:
        PublishError: Anything but ``push``, ``pr`` or empty.
    """
    text = value.strip() or "push"
    for mode in MODES:
        if text == mode:
            return mode
    raise PublishError(f"commit mode {value!r}: expected 'push' or 'pr' (DATA_COMMIT_MODE)")


def _identity(environ: Mapping[str, str]) -> None:
    missing = [
        name
        for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME")
        if not environ.get(name)
    ]
    if missing:
        raise PublishError(
            f"no git identity: {', '.join(missing)} not set (run through .github/scripts/as-bot)"
        )


def commit_outputs(git: Git, paths: Sequence[str], message: str) -> str | None:
    """Stage ``paths`` and commit them; return the commit, or None when nothing changed."""
    existing = [p for p in paths if (git.root / p).exists() or git.run("ls-files", "--", p)]
    if not existing:
        return None
    git.run("add", "--all", "--", *existing)
    if not git.run("diff", "--cached", "--name-only"):
        return None
    git.run("commit", "--quiet", "--no-verify", "-m", message)
    return git.run("rev-parse", "HEAD")


def push_to_base(git: Git, remote: str, base: str) -> str:
    """Push HEAD to ``base``; after a rejection, rebase once onto the new ``base`` and retry.

    Returns:
        The commit that ``base`` now points at.

    Raises:
        PublishError: The push is refused twice, or the rebase conflicts (the conflicting
            files are named; the rebase is aborted and nothing is lost).
    """
    target = f"HEAD:refs/heads/{base}"
    try:
        git.run("push", "--quiet", remote, target)
        return git.run("rev-parse", "HEAD")
    except GitError as first:
        git.run("fetch", "--quiet", remote, base)
        try:
            git.run("rebase", "--quiet", "FETCH_HEAD")
        except GitError:
            conflicts = git.run("diff", "--name-only", "--diff-filter=U", check=False).split()
            git.run("rebase", "--abort", check=False)
            raise PublishError(
                f"push to {base} was rejected ({first}) and rebasing onto the new {base} "
                f"conflicts in {', '.join(conflicts) or 'unknown files'}; "
                "re-run the workflow, or set DATA_COMMIT_MODE=pr"
            ) from None
        try:
            git.run("push", "--quiet", remote, target)
        except GitError as second:
            raise PublishError(f"push to {base} rejected twice: {second}") from None
        return git.run("rev-parse", "HEAD")


def default_branch(prefix: str, environ: Mapping[str, str], now: float | None = None) -> str:
    """``<prefix>/<UTC date-time>-<run id>``: one branch per run, never reused."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    run = environ.get("GITHUB_RUN_ID", "")
    return f"{prefix}/{stamp}" + (f"-{run}" if run else "")


def publish(
    root: Path,
    paths: Sequence[str],
    message: str,
    mode: Mode,
    *,
    remote: str = "origin",
    base: str = "main",
    branch: str | None = None,
    github: PullOpener | None = None,
    environ: Mapping[str, str] | None = None,
) -> Published:
    """Commit ``paths`` as the bot and push them to ``base`` or open a pull request.

    Args:
        root: The repository (a checkout of ``base``).
        paths: Repository-relative files or folders to commit (missing ones are skipped).
        message: Commit message; its first line is the pull request's title.
        mode: ``push`` or ``pr``.
        remote: Git remote to push to.
        base: The branch the outputs belong on.
        branch: Branch of the pull request (default: ``publish/<time>-<run id>``).
        github: A ``GitHubClient`` (needed in ``pr`` mode).
        environ: Environment holding the git identity (default: this process's).

    Raises:
        PublishError: No identity, no GitHub client in ``pr`` mode, or a refused push.
    """
    env = os.environ if environ is None else environ
    _identity(env)
    git = Git(root)
    commit = commit_outputs(git, paths, message)
    if commit is None:
        return Published(mode, None)
    if mode == "push":
        return Published(mode, push_to_base(git, remote, base))
    if github is None:
        raise PublishError("commit mode pr: GITHUB_TOKEN and GITHUB_REPOSITORY must be set")
    head = branch or default_branch("publish", env)
    git.run("push", "--quiet", remote, f"HEAD:refs/heads/{head}")
    title = message.splitlines()[0]
    body = (
        f"{message}\n\nOpened by the scheduled run"
        f"{' ' + env['GITHUB_RUN_ID'] if env.get('GITHUB_RUN_ID') else ''} "
        "because DATA_COMMIT_MODE is `pr`. Merge it to keep `dvc.lock` in step with the data "
        "already pushed to the DVC remote."
    )
    pull, _created = github.open_pull(head, base, title, body)
    return Published(mode, commit, head, int(pull["number"]))
