"""``actions/checkout`` over the twin's git smart HTTP, following the real action's git commands.

Like the action: ``git init`` in the target folder, ``origin`` at the server, the token as an
``http.<server>/.extraheader`` basic-auth header, a fetch of the event's SHA into the ref's
remote-tracking name (``--depth`` = ``fetch-depth``; 0 fetches every branch and tag), then
``checkout -B <branch>`` for branches or a detached checkout otherwise. With
``persist-credentials: false`` the header is removed afterwards.
"""

from __future__ import annotations

import base64
import re

from twin.github.actions_table import ActionCall, ActionFailed
from twin.github.config import REPOSITORY

_SHA = re.compile(r"^[0-9a-f]{40}$")


def _remote_name(ref: str) -> str:
    if ref.startswith("refs/heads/"):
        return "refs/remotes/origin/" + ref.removeprefix("refs/heads/")
    if ref.startswith("refs/pull/"):
        return "refs/remotes/pull/" + ref.removeprefix("refs/pull/")
    return ref


def _target_ref(call: ActionCall) -> tuple[str, str]:
    """``(ref, sha)`` to check out; sha "" when it must come from the ref."""
    job = call.job
    wanted = call.input("ref")
    if not wanted:
        return job.event.ref, job.event.sha
    if _SHA.match(wanted):
        return "", wanted
    if wanted.startswith("refs/"):
        return wanted, job.twin.repo.rev(wanted) or ""
    for ref in (f"refs/heads/{wanted}", f"refs/tags/{wanted}"):
        if sha := job.twin.repo.rev(ref):
            return ref, sha
    raise ActionFailed(f"A branch or tag with the name '{wanted}' could not be found")


def checkout(call: ActionCall) -> None:
    """Check the repository out into the workspace (or ``path`` under it)."""
    job = call.job
    repository = call.input("repository", job.github["repository"])
    if repository.lower() != REPOSITORY:
        raise ActionFailed(f"repository '{repository}': the twin hosts only {REPOSITORY}")
    for name in ("ssh-key", "sparse-checkout"):
        if call.input(name):
            raise ActionFailed(f"input '{name}' is not supported by the twin's checkout")
    if call.input("submodules", "false").lower() != "false" or call.flag("lfs", False):
        raise ActionFailed("submodules and lfs are not supported by the twin's checkout")
    token = call.input("token", job.github["token"])
    if not token:
        raise ActionFailed("Input required and not supplied: token")
    try:
        depth = int(call.input("fetch-depth", "1"))
    except ValueError:
        raise ActionFailed(f"fetch-depth '{call.input('fetch-depth')}' is not a number") from None
    target = (job.workspace / call.input("path", ".")).resolve()
    if not target.is_relative_to(job.workspace.resolve()):
        raise ActionFailed(f"Repository path '{target}' is not under '{job.workspace}'")
    target.mkdir(parents=True, exist_ok=True)
    ref, sha = _target_ref(call)
    header_key = f"http.{job.twin.url}/.extraheader"
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    job.add_mask(basic)

    def git(*args: str, quiet: bool = False) -> str:
        return call.run(["git", *args], cwd=target, quiet=quiet)

    if not (target / ".git").exists():
        git("init", "--quiet", ".")
        git("remote", "add", "origin", job.twin.git_url)
    else:
        git("remote", "set-url", "origin", job.twin.git_url)
    git("config", "--local", "gc.auto", "0")
    git("config", "--local", header_key, f"AUTHORIZATION: basic {basic}", quiet=True)
    depth_args = [] if depth <= 0 else [f"--depth={depth}"]
    fetch = ["fetch", "--no-tags", "--prune", "--no-recurse-submodules", *depth_args, "origin"]
    if depth <= 0:
        git(
            *fetch[:1],
            "--tags",
            *fetch[2:],
            "+refs/heads/*:refs/remotes/origin/*",
            "+refs/tags/*:refs/tags/*",
        )
    if sha:
        git(*fetch, f"+{sha}:{_remote_name(ref)}" if ref else sha)
    else:
        git(*fetch, f"+{ref}:{_remote_name(ref)}")
    if ref.startswith("refs/heads/"):
        branch = ref.removeprefix("refs/heads/")
        git("checkout", "--progress", "--force", "-B", branch, _remote_name(ref))
    else:
        git("checkout", "--progress", "--force", sha or _remote_name(ref))
    if not call.flag("persist-credentials", True):
        git("config", "--local", "--unset-all", header_key, quiet=True)
    call.outputs["ref"] = ref
    call.outputs["commit"] = git("rev-parse", "HEAD", quiet=True).strip()
