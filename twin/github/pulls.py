"""Pull requests: open, update, merge (with branch protection), and their ``refs/pull/N`` refs.

Errors carry GitHub's HTTP status and message (``ApiError``) so the routes answer as GitHub does.
"""

from __future__ import annotations

from typing import Any

from twin.github import events
from twin.github.config import OWNER
from twin.github.records import now
from twin.github.service import GitHubTwin
from twin.github.tokens import Token


class ApiError(Exception):
    """An API refusal: HTTP status and GitHub's message."""

    def __init__(
        self, status: int, message: str, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors or []


def refresh_refs(twin: GitHubTwin, pr: dict[str, Any]) -> None:
    """Point ``refs/pull/N/head`` at the head and ``refs/pull/N/merge`` at a test merge."""
    repo, number = twin.repo, pr["number"]
    head = repo.rev(f"refs/heads/{pr['head']['ref']}") or pr["head"]["sha"]
    base = repo.rev(f"refs/heads/{pr['base']['ref']}") or pr["base"]["sha"]
    pr["head"]["sha"], pr["base"]["sha"] = head, base
    repo.set_ref(f"refs/pull/{number}/head", head)
    tree = repo.merge_tree(base, head)
    if tree is None:
        pr["mergeable"], pr["mergeable_state"], pr["merge_commit_sha"] = False, "dirty", None
        repo.delete_ref(f"refs/pull/{number}/merge")
        return
    message = f"Merge {head} into {base}"
    merge = repo.commit_tree(tree, [base, head], message, ("GitHub", "noreply@github.com"))
    repo.set_ref(f"refs/pull/{number}/merge", merge)
    pr["mergeable"], pr["mergeable_state"], pr["merge_commit_sha"] = True, "clean", merge


def _check_pull_creation(twin: GitHubTwin, token: Token) -> None:
    if not token.can("pull-requests", "write"):
        raise ApiError(403, "Resource not accessible by integration")
    if token.kind == "workflow" and not twin.config["actions"]["can_approve_pull_request_reviews"]:
        raise ApiError(403, "GitHub Actions is not permitted to create or approve pull requests.")


def create(twin: GitHubTwin, token: Token, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /pulls``: open a pull request and emit ``pull_request.opened``."""
    _check_pull_creation(twin, token)
    head = str(body.get("head") or "").removeprefix(f"{OWNER}:")
    base = str(body.get("base") or "")
    if not body.get("title") or not head or not base:
        raise ApiError(
            422, "Validation Failed", [{"resource": "PullRequest", "code": "missing_field"}]
        )
    head_sha, base_sha = twin.repo.rev(f"refs/heads/{head}"), twin.repo.rev(f"refs/heads/{base}")
    if head_sha is None:
        raise ApiError(
            422,
            "Validation Failed",
            [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
        )
    if base_sha is None:
        raise ApiError(
            422,
            "Validation Failed",
            [{"resource": "PullRequest", "field": "base", "code": "invalid"}],
        )
    with twin.store.lock:
        for pr in twin.store.pulls.values():
            if pr["state"] == "open" and pr["head"]["ref"] == head and pr["base"]["ref"] == base:
                raise ApiError(422, f"A pull request already exists for {OWNER}:{head}.")
        if twin.repo.is_ancestor(head_sha, base_sha):
            raise ApiError(422, f"No commits between {base} and {head}")
        number = twin.store.next_issue_number()
        pr = {
            "id": twin.store.next_id(),
            "number": number,
            "state": "open",
            "title": str(body["title"]),
            "body": body.get("body"),
            "draft": bool(body.get("draft", False)),
            "user": twin.user_json(token.login),
            "head": {"ref": head, "sha": head_sha, "label": f"{OWNER}:{head}"},
            "base": {"ref": base, "sha": base_sha, "label": f"{OWNER}:{base}"},
            "merged": False,
            "merged_at": None,
            "merged_by": None,
            "closed_at": None,
            "created_at": now(),
            "updated_at": now(),
            "labels": [],
            "html_url": f"{twin.url}/{twin.repository_json()['full_name']}/pull/{number}",
            "url": f"{twin.api_url}/repos/{twin.repository_json()['full_name']}/pulls/{number}",
        }
        refresh_refs(twin, pr)
        twin.store.pulls[number] = pr
    events.pull_request(twin, pr, "opened", token)
    return pr


def update(twin: GitHubTwin, token: Token, number: int, body: dict[str, Any]) -> dict[str, Any]:
    """``PATCH /pulls/{n}``: title, body, state, base."""
    if not token.can("pull-requests", "write"):
        raise ApiError(403, "Resource not accessible by integration")
    pr = get(twin, number)
    action = None
    with twin.store.lock:
        for key in ("title", "body"):
            if key in body:
                pr[key] = body[key]
                action = action or "edited"
        if body.get("state") in ("open", "closed") and body["state"] != pr["state"]:
            pr["state"] = body["state"]
            pr["closed_at"] = now() if pr["state"] == "closed" else None
            action = "closed" if pr["state"] == "closed" else "reopened"
        if "base" in body:
            pr["base"]["ref"] = str(body["base"])
            refresh_refs(twin, pr)
        pr["updated_at"] = now()
    if action:
        events.pull_request(twin, pr, action, token)
    return pr


def get(twin: GitHubTwin, number: int) -> dict[str, Any]:
    """One pull request (404 when unknown)."""
    with twin.store.lock:
        pr = twin.store.pulls.get(number)
    if pr is None:
        raise ApiError(404, "Not Found")
    return pr


def protection_failures(
    twin: GitHubTwin, branch: str, sha: str, *, base_sha: str | None = None
) -> list[str]:
    """Why ``sha`` may not land on ``branch`` under its required status checks."""
    rules = twin.config["branch_protection"].get(branch) or {}
    checks = rules.get("required_status_checks") or {}
    out = []
    for context in checks.get("contexts") or []:
        state = twin.store.check_state(sha, str(context))
        if state != "success":
            out.append(
                f'Required status check "{context}" is '
                + ("failing." if state == "failure" else f"{state}.")
            )
    if checks.get("strict") and base_sha and not twin.repo.is_ancestor(base_sha, sha):
        out.append("Head branch is out of date with the base branch.")
    return out


def merge(twin: GitHubTwin, token: Token, number: int, body: dict[str, Any]) -> dict[str, Any]:
    """``PUT /pulls/{n}/merge``: a merge (or squash) commit on the base, then push and closed."""
    if not token.can("contents", "write"):
        raise ApiError(403, "Resource not accessible by integration")
    pr = get(twin, number)
    method = str(body.get("merge_method") or "merge")
    if method not in ("merge", "squash"):
        raise ApiError(422, f"merge_method '{method}' is not supported by the twin (merge, squash)")
    with twin.repo.lock:
        refresh_refs(twin, pr) if pr["state"] == "open" else None
        if pr["state"] != "open" or not pr["mergeable"]:
            raise ApiError(405, "Pull Request is not mergeable")
        if body.get("sha") and body["sha"] != pr["head"]["sha"]:
            raise ApiError(409, "Head branch was modified. Review and try the merge again.")
        base_ref, head, base = pr["base"]["ref"], pr["head"]["sha"], pr["base"]["sha"]
        failures = protection_failures(twin, base_ref, head, base_sha=base)
        failures += _review_failures(twin, token, pr)
        if failures:
            raise ApiError(405, " ".join(failures))
        title = body.get("commit_title") or (
            f"Merge pull request #{number} from {OWNER}/{pr['head']['ref']}"
            if method == "merge"
            else f"{pr['title']} (#{number})"
        )
        message = f"{title}\n\n{body.get('commit_message') or pr['title']}\n"
        tree = twin.repo.merge_tree(base, head)
        assert tree is not None  # noqa: S101 - mergeable was just checked
        parents = [base, head] if method == "merge" else [base]
        author = (token.login, f"{token.login}@users.noreply.github.com")
        sha = twin.repo.commit_tree(tree, parents, message, author)
        twin.repo.set_ref(f"refs/heads/{base_ref}", sha, base)
    with twin.store.lock:
        pr.update(
            state="closed", merged=True, merged_at=now(), closed_at=now(), merge_commit_sha=sha
        )
        pr["merged_by"] = twin.user_json(token.login)
    events.push(twin, f"refs/heads/{base_ref}", base, sha, token)
    events.pull_request(twin, pr, "closed", token)
    if twin.config["repository"]["delete_branch_on_merge"]:
        twin.repo.delete_ref(f"refs/heads/{pr['head']['ref']}")
    return {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}


def _review_failures(twin: GitHubTwin, token: Token, pr: dict[str, Any]) -> list[str]:
    rules = twin.config["branch_protection"].get(pr["base"]["ref"]) or {}
    reviews = rules.get("required_pull_request_reviews")
    if not reviews or (token.admin and not rules.get("enforce_admins")):
        return []
    wanted = int(reviews.get("required_approving_review_count", 1))
    with twin.store.lock:
        approvals = {
            r["user"]["login"]
            for r in twin.store.reviews.get(pr["number"], [])
            if r["state"] == "APPROVED"
        }
    if len(approvals) < wanted:
        return [f"At least {wanted} approving review is required by reviewers with write access."]
    return []


def review(twin: GitHubTwin, token: Token, number: int, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /pulls/{n}/reviews``: APPROVE, REQUEST_CHANGES or COMMENT."""
    pr = get(twin, number)
    event = str(body.get("event") or "COMMENT")
    if event == "APPROVE":
        if (
            token.kind == "workflow"
            and not twin.config["actions"]["can_approve_pull_request_reviews"]
        ):
            raise ApiError(
                403, "GitHub Actions is not permitted to create or approve pull requests."
            )
        if token.login == pr["user"]["login"]:
            raise ApiError(422, "Unprocessable Entity: Can not approve your own pull request")
    states = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}
    if event not in states:
        raise ApiError(422, f"event must be one of {sorted(states)}")
    with twin.store.lock:
        record = {
            "id": twin.store.next_id(),
            "user": twin.user_json(token.login),
            "body": body.get("body") or "",
            "state": states[event],
            "commit_id": pr["head"]["sha"],
            "submitted_at": now(),
        }
        twin.store.reviews.setdefault(number, []).append(record)
    return record
