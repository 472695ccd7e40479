"""REST: commits, commit statuses and check runs (workflow jobs report theirs on the head SHA)."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from twin.github.http import REPO, Call, need, page, route
from twin.github.pulls import ApiError
from twin.github.service import GitHubTwin


def get_commit(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /commits/{ref}``: the SHA (and parents) of a ref or SHA."""
    need(call.token, "contents", "read")
    ref = call.params["ref"]
    sha = (
        twin.repo.rev(ref)
        or twin.repo.rev(f"refs/heads/{ref}")
        or twin.repo.rev(f"refs/tags/{ref}")
    )
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ref}")
    parents = twin.repo.git("rev-list", "--parents", "-n", "1", sha).split()[1:]
    return {"sha": sha, "parents": [{"sha": p} for p in parents]}


def create_status(twin: GitHubTwin, call: Call) -> tuple[int, dict[str, Any]]:
    """``POST /statuses/{sha}``."""
    need(call.token, "statuses", "write")
    body = call.body
    if body.get("state") not in ("error", "failure", "pending", "success"):
        raise ApiError(
            422, "Validation Failed", [{"resource": "Status", "field": "state", "code": "invalid"}]
        )
    status = twin.store.add_status(
        call.params["sha"],
        body["state"],
        str(body.get("context") or "default"),
        str(body.get("description") or ""),
        str(body.get("target_url") or ""),
        call.token.login,
    )
    return 201, status


def list_statuses(twin: GitHubTwin, call: Call) -> list[dict[str, Any]]:
    """``GET /commits/{ref}/statuses``: every status of the commit, newest first."""
    need(call.token, "statuses", "read")
    sha = twin.repo.rev(call.params["ref"]) or call.params["ref"]
    with twin.store.lock:
        statuses = [dict(s) for s in reversed(twin.store.statuses.get(sha, []))]
    return page(statuses, call.query)


def combined_status(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /commits/{ref}/status``: the newest status per context and the combined state."""
    need(call.token, "statuses", "read")
    sha = twin.repo.rev(call.params["ref"]) or call.params["ref"]
    with twin.store.lock:
        latest: dict[str, dict[str, Any]] = {}
        for status in twin.store.statuses.get(sha, []):
            latest[status["context"]] = status
    states = [s["state"] for s in latest.values()]
    state = (
        "failure"
        if {"failure", "error"} & set(states)
        else ("pending" if "pending" in states or not states else "success")
    )
    return {
        "state": state,
        "sha": sha,
        "total_count": len(latest),
        "statuses": list(latest.values()),
    }


def check_runs(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /commits/{ref}/check-runs``."""
    need(call.token, "checks", "read")
    sha = twin.repo.rev(call.params["ref"]) or call.params["ref"]
    with twin.store.lock:
        runs = [dict(c) for c in twin.store.check_runs.values() if c["head_sha"] == sha]
    name = call.query.get("check_name")
    runs = [r for r in runs if not name or r["name"] == name]
    return {"total_count": len(runs), "check_runs": runs}


def create_check_run(twin: GitHubTwin, call: Call) -> tuple[int, dict[str, Any]]:
    """``POST /check-runs``."""
    need(call.token, "checks", "write")
    body = call.body
    if not body.get("name") or not body.get("head_sha"):
        raise ApiError(422, "Validation Failed")
    status = str(body.get("status") or ("completed" if body.get("conclusion") else "queued"))
    return 201, twin.store.add_check_run(
        body["head_sha"], body["name"], status, body.get("conclusion"), call.token.login
    )


def routes(twin: GitHubTwin) -> list[Route]:
    """The routes of this module."""
    return [
        route(twin, f"{REPO}/commits/{{ref:path}}/status", ["GET"], combined_status),
        route(twin, f"{REPO}/commits/{{ref:path}}/statuses", ["GET"], list_statuses),
        route(twin, f"{REPO}/commits/{{ref:path}}/check-runs", ["GET"], check_runs),
        route(twin, f"{REPO}/commits/{{ref:path}}", ["GET"], get_commit),
        route(twin, f"{REPO}/statuses/{{sha}}", ["POST"], create_status),
        route(twin, f"{REPO}/check-runs", ["POST"], create_check_run),
    ]
