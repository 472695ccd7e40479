"""REST: pull requests, reviews and issue comments (``/pulls``, ``/issues``)."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from twin.github import pulls
from twin.github.config import OWNER
from twin.github.http import REPO, Call, need, page, route
from twin.github.pulls import ApiError
from twin.github.records import now
from twin.github.service import GitHubTwin


def list_pulls(twin: GitHubTwin, call: Call) -> list[dict[str, Any]]:
    """``GET /pulls``: ``state`` (open|closed|all), ``head`` (``owner:branch``), ``base``."""
    need(call.token, "pull-requests", "read")
    state = call.query.get("state", "open")
    head = call.query.get("head")
    base = call.query.get("base")
    with twin.store.lock:
        items = sorted(
            twin.store.pulls.values(),
            key=lambda p: p["number"],
            reverse=call.query.get("direction", "desc") == "desc",
        )
        out = []
        for pr in items:
            if state != "all" and pr["state"] != state:
                continue
            if head and pr["head"]["label"] != (head if ":" in head else f"{OWNER}:{head}"):
                continue
            if base and pr["base"]["ref"] != base:
                continue
            out.append(dict(pr))
    return page(out, call.query)


def create_pull(twin: GitHubTwin, call: Call) -> tuple[int, dict[str, Any]]:
    """``POST /pulls``."""
    return 201, pulls.create(twin, call.token, call.body)


def get_pull(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /pulls/{number}``."""
    need(call.token, "pull-requests", "read")
    return pulls.get(twin, call.int_param("number"))


def patch_pull(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``PATCH /pulls/{number}``."""
    return pulls.update(twin, call.token, call.int_param("number"), call.body)


def merge_pull(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``PUT /pulls/{number}/merge``."""
    return pulls.merge(twin, call.token, call.int_param("number"), call.body)


def merged_status(twin: GitHubTwin, call: Call) -> tuple[int, None]:
    """``GET /pulls/{number}/merge``: 204 when merged, 404 when not."""
    return (204, None) if pulls.get(twin, call.int_param("number"))["merged"] else (404, None)


def create_review(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``POST /pulls/{number}/reviews``."""
    need(call.token, "pull-requests", "write")
    return pulls.review(twin, call.token, call.int_param("number"), call.body)


def list_reviews(twin: GitHubTwin, call: Call) -> list[dict[str, Any]]:
    """``GET /pulls/{number}/reviews``."""
    need(call.token, "pull-requests", "read")
    with twin.store.lock:
        return list(twin.store.reviews.get(call.int_param("number"), []))


def _comment_scope(twin: GitHubTwin, number: int) -> str:
    return "pull-requests" if number in twin.store.pulls else "issues"


def list_comments(twin: GitHubTwin, call: Call) -> list[dict[str, Any]]:
    """``GET /issues/{number}/comments``."""
    number = call.int_param("number")
    need(call.token, _comment_scope(twin, number), "read")
    with twin.store.lock:
        items = [
            dict(c)
            for c in sorted(twin.store.comments.values(), key=lambda c: c["id"])
            if c["issue"] == number
        ]
    return page(items, call.query)


def create_comment(twin: GitHubTwin, call: Call) -> tuple[int, dict[str, Any]]:
    """``POST /issues/{number}/comments``."""
    number = call.int_param("number")
    need(call.token, _comment_scope(twin, number), "write")
    if number not in twin.store.pulls:
        raise ApiError(404, "Not Found")
    if not isinstance(call.body.get("body"), str):
        raise ApiError(
            422,
            "Validation Failed",
            [{"resource": "IssueComment", "field": "body", "code": "missing_field"}],
        )
    with twin.store.lock:
        comment = {
            "id": twin.store.next_id(),
            "issue": number,
            "body": call.body["body"],
            "user": twin.user_json(call.token.login),
            "created_at": now(),
            "updated_at": now(),
            "html_url": f"{twin.git_url}/pull/{number}",
        }
        comment["url"] = (
            f"{twin.api_url}/repos/{twin.repository_json()['full_name']}/issues/comments/{comment['id']}"
        )
        twin.store.comments[comment["id"]] = comment
    return 201, dict(comment)


def _comment(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    comment = twin.store.comments.get(call.int_param("comment_id"))
    if comment is None:
        raise ApiError(404, "Not Found")
    return comment


def get_comment(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /issues/comments/{comment_id}``."""
    comment = _comment(twin, call)
    need(call.token, _comment_scope(twin, comment["issue"]), "read")
    return dict(comment)


def patch_comment(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``PATCH /issues/comments/{comment_id}``."""
    comment = _comment(twin, call)
    need(call.token, _comment_scope(twin, comment["issue"]), "write")
    with twin.store.lock:
        comment["body"] = str(call.body.get("body", comment["body"]))
        comment["updated_at"] = now()
        return dict(comment)


def routes(twin: GitHubTwin) -> list[Route]:
    """The routes of this module."""
    return [
        route(twin, f"{REPO}/pulls", ["GET"], list_pulls),
        route(twin, f"{REPO}/pulls", ["POST"], create_pull),
        route(twin, f"{REPO}/pulls/{{number}}", ["GET"], get_pull),
        route(twin, f"{REPO}/pulls/{{number}}", ["PATCH"], patch_pull),
        route(twin, f"{REPO}/pulls/{{number}}/merge", ["PUT"], merge_pull),
        route(twin, f"{REPO}/pulls/{{number}}/merge", ["GET"], merged_status),
        route(twin, f"{REPO}/pulls/{{number}}/reviews", ["POST"], create_review),
        route(twin, f"{REPO}/pulls/{{number}}/reviews", ["GET"], list_reviews),
        route(twin, f"{REPO}/issues/comments/{{comment_id}}", ["GET"], get_comment),
        route(twin, f"{REPO}/issues/comments/{{comment_id}}", ["PATCH"], patch_comment),
        route(twin, f"{REPO}/issues/{{number}}/comments", ["GET"], list_comments),
        route(twin, f"{REPO}/issues/{{number}}/comments", ["POST"], create_comment),
    ]
