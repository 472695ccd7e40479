"""REST: repository settings, Actions permissions, environments, secrets and variables, branches.

Secrets are served by name only, as GitHub does; variables with their values.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from twin.github.http import REPO, Call, need, route
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


def get_variable(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /actions/variables/{var}`` and ``/environments/{name}/variables/{var}``."""
    need(call.token, "admin", "read")
    values = _scoped(twin, call, "variables")
    if call.params["var"] not in values:
        raise ApiError(404, "Not Found")
    name = call.params["var"]
    return {"name": name, "value": str(values[name]), "created_at": STAMP, "updated_at": STAMP}


def get_secret(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /actions/secrets/{secret}`` and the environment form: the name, never the value."""
    need(call.token, "admin", "read")
    if call.params["secret"] not in _scoped(twin, call, "secrets"):
        raise ApiError(404, "Not Found")
    return {"name": call.params["secret"], "created_at": STAMP, "updated_at": STAMP}


def organization_lists(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /actions/organization-secrets|variables``: the twin has no organization-level ones."""
    need(call.token, "admin", "read")
    key = "secrets" if call.params["kind"] == "secrets" else "variables"
    return {"total_count": 0, key: []}


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
        route(twin, f"{REPO}/actions/variables/{{var}}", ["GET"], get_variable),
        route(twin, f"{env}/variables/{{var}}", ["GET"], get_variable),
        route(twin, f"{REPO}/actions/secrets/{{secret}}", ["GET"], get_secret),
        route(twin, f"{env}/secrets/{{secret}}", ["GET"], get_secret),
        route(twin, f"{REPO}/actions/organization-{{kind}}", ["GET"], organization_lists),
        route(twin, f"{REPO}/branches/{{branch:path}}/protection", ["GET"], get_protection),
        route(twin, f"{REPO}/branches/{{branch:path}}", ["GET"], get_branch),
    ]
