"""REST: repository settings, environments, secret and variable names, branches, checks.

Also the Actions workflow permissions, branch protection, commit statuses and check runs.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from twin.github.http import REPO, Call, need, page, route
from twin.github.pulls import ApiError
from twin.github.service import GitHubTwin

STAMP = "2024-01-01T00:00:00Z"


def get_repository(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /repos/{owner}/{repo}`` (the caller's permissions included, as GitHub does)."""
    out = twin.repository_json()
    admin = call.token.admin
    out["permissions"] = {
        "admin": admin,
        "maintain": admin,
        "push": call.token.can("contents", "write"),
        "pull": True,
    }
    return out


def workflow_permissions(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /actions/permissions/workflow``."""
    need(call.token, "admin", "read")
    actions = twin.config["actions"]
    return {
        "default_workflow_permissions": actions["default_workflow_permissions"],
        "can_approve_pull_request_reviews": bool(actions["can_approve_pull_request_reviews"]),
    }


def _environment_json(twin: GitHubTwin, name: str, settings: dict[str, Any]) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    reviewers = settings.get("reviewers") or []
    if reviewers:
        rules.append(
            {
                "id": 1,
                "type": "required_reviewers",
                "prevent_self_review": False,
                "reviewers": [
                    {"type": "User", "reviewer": twin.user_json(str(r))} for r in reviewers
                ],
            }
        )
    if settings.get("wait_timer"):
        rules.append({"id": 2, "type": "wait_timer", "wait_timer": int(settings["wait_timer"])})
    branches = settings.get("deployment_branches")
    if branches is not None:
        rules.append({"id": 3, "type": "branch_policy"})
    return {
        "id": abs(hash(name)) % 10**8,
        "name": name,
        "url": f"{twin.api_url}/repos/{twin.repository_json()['full_name']}/environments/{name}",
        "protection_rules": rules,
        "deployment_branch_policy": (
            None
            if branches is None
            else {"protected_branches": False, "custom_branch_policies": True}
        ),
        "created_at": STAMP,
        "updated_at": STAMP,
    }


def _environments(twin: GitHubTwin) -> dict[str, dict[str, Any]]:
    known = {name: dict(s or {}) for name, s in twin.config["environments"].items()}
    known.update({name: {} for name in twin.auto_environments if name not in known})
    return known


def list_environments(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /environments``."""
    need(call.token, "actions", "read") if not call.token.admin else None
    envs = [_environment_json(twin, n, s) for n, s in sorted(_environments(twin).items())]
    return {"total_count": len(envs), "environments": envs}


def get_environment(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /environments/{name}``."""
    need(call.token, "actions", "read") if not call.token.admin else None
    envs = _environments(twin)
    name = call.params["name"]
    if name not in envs:
        raise ApiError(404, "Not Found")
    return _environment_json(twin, name, envs[name])


def _scoped(twin: GitHubTwin, call: Call, kind: str) -> dict[str, Any]:
    if "name" in call.params:
        envs = _environments(twin)
        if call.params["name"] not in envs:
            raise ApiError(404, "Not Found")
        return dict(envs[call.params["name"]].get(kind) or {})
    return dict(twin.config[kind])


def list_secrets(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /actions/secrets`` and ``/environments/{name}/secrets``: names only."""
    need(call.token, "admin", "read")
    names = sorted(_scoped(twin, call, "secrets"))
    return {
        "total_count": len(names),
        "secrets": [{"name": n, "created_at": STAMP, "updated_at": STAMP} for n in names],
    }


def list_variables(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /actions/variables`` and ``/environments/{name}/variables`` (values too, as GitHub)."""
    need(call.token, "admin", "read")
    values = _scoped(twin, call, "variables")
    items = [
        {"name": n, "value": str(v), "created_at": STAMP, "updated_at": STAMP}
        for n, v in sorted(values.items())
    ]
    return {"total_count": len(items), "variables": items}


def get_protection(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /branches/{branch}/protection``."""
    need(call.token, "admin", "read")
    rules = twin.config["branch_protection"].get(call.params["branch"])
    if rules is None:
        raise ApiError(404, "Branch not protected")
    checks = rules.get("required_status_checks")
    reviews = rules.get("required_pull_request_reviews")
    return {
        "required_status_checks": None
        if checks is None
        else {
            "strict": bool(checks.get("strict")),
            "contexts": list(checks.get("contexts") or []),
            "checks": [{"context": c, "app_id": None} for c in checks.get("contexts") or []],
        },
        "required_pull_request_reviews": None
        if reviews is None
        else {
            "required_approving_review_count": int(
                reviews.get("required_approving_review_count", 1)
            )
        },
        "enforce_admins": {"enabled": bool(rules.get("enforce_admins"))},
        "allow_force_pushes": {"enabled": bool(rules.get("allow_force_pushes"))},
        "allow_deletions": {"enabled": False},
        "restrictions": None,
    }


def get_branch(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /branches/{branch}``."""
    branch = call.params["branch"]
    sha = twin.repo.rev(f"refs/heads/{branch}")
    if sha is None:
        raise ApiError(404, "Branch not found")
    return {
        "name": branch,
        "commit": {"sha": sha},
        "protected": branch in twin.config["branch_protection"],
    }


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
    env = f"{REPO}/environments/{{name}}"
    return [
        route(twin, REPO, ["GET"], get_repository),
        route(twin, f"{REPO}/actions/permissions/workflow", ["GET"], workflow_permissions),
        route(twin, f"{REPO}/environments", ["GET"], list_environments),
        route(twin, env, ["GET"], get_environment),
        route(twin, f"{REPO}/actions/secrets", ["GET"], list_secrets),
        route(twin, f"{REPO}/actions/variables", ["GET"], list_variables),
        route(twin, f"{env}/secrets", ["GET"], list_secrets),
        route(twin, f"{env}/variables", ["GET"], list_variables),
        route(twin, f"{REPO}/branches/{{branch:path}}/protection", ["GET"], get_protection),
        route(twin, f"{REPO}/branches/{{branch:path}}", ["GET"], get_branch),
        route(twin, f"{REPO}/commits/{{ref:path}}/status", ["GET"], combined_status),
        route(twin, f"{REPO}/commits/{{ref:path}}/statuses", ["GET"], list_statuses),
        route(twin, f"{REPO}/commits/{{ref:path}}/check-runs", ["GET"], check_runs),
        route(twin, f"{REPO}/commits/{{ref:path}}", ["GET"], get_commit),
        route(twin, f"{REPO}/statuses/{{sha}}", ["POST"], create_status),
        route(twin, f"{REPO}/check-runs", ["POST"], create_check_run),
    ]
