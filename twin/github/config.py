"""The fake GitHub's repository settings: what a team configures on github.com, as one document.

The e2e (or a person) sets it through ``POST /_twin/config``; each top-level key given replaces
the stored one. Keys (defaults below):

- ``person``: ``{login}`` of the human the twin acts for (an admin of the repository).
- ``repository``: ``private`` (clones need a token), ``default_branch``,
  ``delete_branch_on_merge``, ``allow_auto_merge``.
- ``actions``: ``default_workflow_permissions`` (``read``|``write``) and
  ``can_approve_pull_request_reviews`` (GitHub's "Allow GitHub Actions to create and approve
  pull requests").
- ``secrets`` / ``variables``: repository-level ``{NAME: value}`` (the API serves names only for
  secrets, as GitHub does).
- ``environments``: ``{name: {reviewers: [login], wait_timer: 0, deployment_branches: null |
  [pattern], secrets: {}, variables: {}}}``. Required reviewers are approved by ``person``.
- ``branch_protection``: ``{branch: {required_status_checks: {strict, contexts: [name]},
  required_pull_request_reviews: null | {required_approving_review_count}, enforce_admins,
  allow_force_pushes, bypass: [login]}}``. Direct pushes that break it are refused.
- ``apps``: ``{app_id: {slug, private_key, permissions: {scope: read|write}}}``: GitHub Apps
  installed on the repository (``actions/create-github-app-token``).
- ``aws``: ``{region, endpoint_url, roles: {role_arn: [OIDC subject pattern]}}``: the roles
  ``aws-actions/configure-aws-credentials`` may assume and from which job subjects
  (``repo:<owner>/<repo>:environment:<env>`` etc.; ``*`` wildcards as in IAM StringLike).
- ``runner``: ``{env: {NAME: value}, self_hosted: [[label, ...]], scale_sets: [name],
  tools: {uv: path}, keep_workspaces: false}``: the runner image's extra environment (e.g. a
  warm ``UV_CACHE_DIR``), the registered self-hosted runners' label sets, the
  actions-runner-controller scale sets (``runs-on: <name>``), tool locations, and whether a
  finished job's workspace, home and temp are kept (``TWIN_KEEP_WORKSPACES=1`` also keeps them).
"""

from __future__ import annotations

import copy
from typing import Any

OWNER = "trading-pipelines"
NAME = "gitops"
REPOSITORY = f"{OWNER}/{NAME}"

DEFAULTS: dict[str, Any] = {
    "person": {"login": "release-manager"},
    "repository": {
        "private": True,
        "default_branch": "main",
        "delete_branch_on_merge": True,
        "allow_auto_merge": False,
    },
    "actions": {"default_workflow_permissions": "read", "can_approve_pull_request_reviews": False},
    "secrets": {},
    "variables": {},
    "environments": {},
    "branch_protection": {},
    "apps": {},
    "aws": {"region": "us-east-1", "endpoint_url": "", "roles": {}},
    "runner": {
        "env": {},
        "self_hosted": [["self-hosted", "linux", "x64", "trading-platform"]],
        "scale_sets": ["trading-platform"],
        "tools": {},
        "keep_workspaces": False,
    },
}

_KINDS: dict[str, type] = {k: type(v) for k, v in DEFAULTS.items()}


class ConfigError(ValueError):
    """A twin config document with a wrong key or type (names it)."""


def merged(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``current`` with each top-level key of ``update`` replaced (nested defaults kept).

    Raises:
        ConfigError: An unknown key or a value of the wrong type.
    """
    out = copy.deepcopy(current)
    for key, value in update.items():
        if key not in DEFAULTS:
            raise ConfigError(f"twin config: unknown key '{key}' (known: {sorted(DEFAULTS)})")
        if not isinstance(value, _KINDS[key]):
            raise ConfigError(f"twin config: '{key}' must be a {_KINDS[key].__name__}")
        if isinstance(value, dict) and isinstance(DEFAULTS[key], dict) and key not in _FREE_FORM:
            unknown = set(value) - set(DEFAULTS[key])
            if unknown:
                raise ConfigError(f"twin config: unknown key '{key}.{sorted(unknown)[0]}'")
            out[key] = {**copy.deepcopy(DEFAULTS[key]), **copy.deepcopy(value)}
        else:
            out[key] = copy.deepcopy(value)
    for name, env in out["environments"].items():
        if not isinstance(env, dict):
            raise ConfigError(f"twin config: environments.{name} must be a mapping")
    return out


_FREE_FORM = {"secrets", "variables", "environments", "branch_protection", "apps"}


def default_config() -> dict[str, Any]:
    """A fresh copy of the defaults."""
    return copy.deepcopy(DEFAULTS)
