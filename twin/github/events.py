"""Events: build GitHub's payloads, apply the GITHUB_TOKEN rule, start the workflows that match.

Every event is recorded with the runs it started and, for each workflow it did not start, the
reason (``GET /_twin/events``). GitHub's rule: a push or pull request made with a workflow's
``GITHUB_TOKEN`` starts no workflow run; ``workflow_dispatch`` and ``repository_dispatch`` do.
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any

from twin.github.gitrepo import ZERO
from twin.github.records import EventRecord
from twin.github.tokens import Token
from twin.github.triggers import Event, why_not
from twin.github.workflow import Workflow, WorkflowError, parse_workflow

if TYPE_CHECKING:
    from twin.github.service import GitHubTwin

log = logging.getLogger(__name__)
WORKFLOWS_DIR = ".github/workflows"


def workflows_at(twin: GitHubTwin, sha: str) -> tuple[list[Workflow], list[tuple[str, str]]]:
    """The workflows in the tree of ``sha``, and the files that are not valid workflows."""
    good, bad = [], []
    for path in sorted(twin.repo.list_dir(sha, WORKFLOWS_DIR)):
        if not path.endswith((".yml", ".yaml")):
            continue
        try:
            good.append(parse_workflow(path, twin.repo.show(sha, path) or ""))
        except WorkflowError as exc:
            bad.append((path, str(exc)))
    return good, bad


def deliver(twin: GitHubTwin, event: Event, token: Token) -> EventRecord:
    """Record ``event`` and start every workflow it triggers (unless GitHub's rule forbids)."""
    record = twin.store.add_event(
        name=event.name,
        ref=event.ref,
        sha=event.sha,
        actor=token.login,
        token=token.described,
        action=event.action,
        pr=event.pr_number,
    )
    if event.name in ("push", "pull_request") and not token.starts_workflows:
        what = f"{event.name}{'.' + event.action if event.action else ''}"
        subject = f"PR #{event.pr_number}" if event.pr_number else event.ref
        record.reason = (
            f"{what} on {subject} was made with {token.described}: events caused by a "
            "workflow's GITHUB_TOKEN start no workflow run (GitHub's rule)"
        )
        log.info("event %s started nothing: %s", record.id, record.reason)
        return record
    workflows, broken = workflows_at(twin, event.sha)
    for path, error in broken:
        if event.name in ("push", "pull_request") or event.workflow == path:
            record.runs.append(twin.runner.invalid(path, error, event, token, record).id)
        else:
            record.skipped.append({"workflow": path, "reason": f"invalid workflow file: {error}"})
    for workflow in workflows:
        reason = why_not(workflow, event)
        if reason:
            record.skipped.append({"workflow": workflow.path, "reason": reason})
            continue
        record.runs.append(twin.runner.start(workflow, event, token, record).id)
    if not record.runs:
        record.reason = f"no workflow has a matching 'on.{event.name}' trigger"
    log.info("event %s (%s) started runs %s", record.id, event.name, record.runs)
    return record


def _pusher(token: Token) -> dict[str, str]:
    return {"name": token.login, "email": f"{token.login}@users.noreply.github.com"}


def push(twin: GitHubTwin, ref: str, before: str, after: str, token: Token) -> EventRecord:
    """A ref moved (git push, merge): the push event, then pull requests on that branch."""
    from twin.github.pulls import refresh_refs

    repo = twin.repo
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    if after == ZERO:
        record = twin.store.add_event(
            name="push", ref=ref, sha=before, actor=token.login, token=token.described
        )
        record.reason = "the ref was deleted"
        return record
    commits = repo.commits(before, after)
    base = before
    if before == ZERO:
        base = repo.merge_base(f"refs/heads/{twin.default_branch}", after) or ZERO
    payload: dict[str, Any] = {
        "ref": ref,
        "before": before,
        "after": after,
        "created": before == ZERO,
        "deleted": False,
        "forced": before != ZERO and not repo.is_ancestor(before, after),
        "base_ref": None,
        "compare": f"{twin.git_url}/compare/{before[:12]}...{after[:12]}",
        "commits": [_commit_json(twin, c) for c in commits],
        "head_commit": _commit_json(twin, commits[-1]) if commits else None,
        "pusher": _pusher(token),
        "repository": twin.repository_json(),
        "sender": twin.user_json(token.login),
    }
    event = Event(
        name="push",
        ref=ref,
        sha=after,
        head_sha=after,
        payload=payload,
        actor=token.login,
        changed_files=lambda: repo.changed_files(base, after),
    )
    record = deliver(twin, event, token)
    if branch is None:
        return record
    with twin.store.lock:
        open_prs = [p for p in twin.store.pulls.values() if p["state"] == "open"]
    for pr in open_prs:
        if pr["head"]["ref"] == branch:
            refresh_refs(twin, pr)
            pull_request(twin, pr, "synchronize", token)
        elif pr["base"]["ref"] == branch:
            refresh_refs(twin, pr)
    return record


def _commit_json(twin: GitHubTwin, commit: dict[str, str]) -> dict[str, Any]:
    return {
        "id": commit["id"],
        "message": commit["message"],
        "author": {"name": commit["name"], "email": commit["email"]},
        "url": f"{twin.git_url}/commit/{commit['id']}",
    }


def pull_request(twin: GitHubTwin, pr: dict[str, Any], action: str, token: Token) -> EventRecord:
    """A ``pull_request`` event on the test merge commit ``refs/pull/N/merge``."""
    number = pr["number"]
    merged = action == "closed" and pr.get("merged")
    sha = pr.get("merge_commit_sha") or pr["head"]["sha"]
    payload = {
        "action": action,
        "number": number,
        "pull_request": copy.deepcopy(pr),
        "repository": twin.repository_json(),
        "sender": twin.user_json(token.login),
    }
    base = twin.repo.merge_base(pr["base"]["sha"], pr["head"]["sha"])
    event = Event(
        name="pull_request",
        ref=f"refs/heads/{pr['base']['ref']}" if merged else f"refs/pull/{number}/merge",
        sha=sha,
        head_sha=pr["head"]["sha"],
        payload=payload,
        actor=token.login,
        action=action,
        base_ref=pr["base"]["ref"],
        head_ref=pr["head"]["ref"],
        pr_number=number,
        changed_files=lambda: twin.repo.changed_files(base, pr["head"]["sha"]),
    )
    if not pr.get("mergeable") and action != "closed":
        record = twin.store.add_event(
            name="pull_request",
            ref=event.ref,
            sha=sha,
            actor=token.login,
            token=token.described,
            action=action,
            pr=number,
        )
        record.reason = (
            f"PR #{number} has merge conflicts with {pr['base']['ref']}: no merge commit to run on"
        )
        return record
    return deliver(twin, event, token)


def default_head(twin: GitHubTwin, ref: str | None = None) -> tuple[str, str]:
    """``(full ref, sha)`` of a branch or tag name (default branch when None).

    Raises:
        LookupError: The ref does not exist.
    """
    name = ref or twin.default_branch
    for full in (name, f"refs/heads/{name}", f"refs/tags/{name}"):
        if full.startswith("refs/") and (sha := twin.repo.rev(full)):
            return full, sha
    raise LookupError(f"No ref found for: {name}")


def dispatched(
    twin: GitHubTwin, name: str, token: Token, *, ref: str | None = None, **fields: Any
) -> EventRecord:
    """``schedule``, ``workflow_dispatch`` or ``repository_dispatch`` on a branch's head."""
    full, sha = default_head(twin, ref)
    payload: dict[str, Any] = {
        "repository": twin.repository_json(),
        "sender": twin.user_json(token.login),
    }
    payload.update(fields.pop("payload", {}))
    event = Event(
        name=name, ref=full, sha=sha, head_sha=sha, payload=payload, actor=token.login, **fields
    )
    return deliver(twin, event, token)
