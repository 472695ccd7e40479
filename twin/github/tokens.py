"""Tokens and who they speak for: a job's ``GITHUB_TOKEN``, GitHub App tokens, a person's token.

``ghs_wf_*`` is minted per job with the job's ``permissions`` and revoked when the job ends;
``ghs_app_*`` by ``actions/create-github-app-token`` with the App's permissions (revoked at the
end of the job, as the action's post step does); ``ghp_*`` for people. GitHub's rule: events a
``GITHUB_TOKEN`` causes start no workflow, except ``workflow_dispatch`` and
``repository_dispatch`` (``Token.starts_workflows``).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

SCOPES = (
    "actions",
    "attestations",
    "checks",
    "contents",
    "deployments",
    "discussions",
    "id-token",
    "issues",
    "models",
    "packages",
    "pages",
    "pull-requests",
    "repository-projects",
    "security-events",
    "statuses",
)
LEVEL = {"none": 0, "read": 1, "write": 2}
# GitHub's "permissive" and "restricted" defaults for GITHUB_TOKEN (id-token is never default).
PERMISSIVE = {
    scope: "write" for scope in SCOPES if scope not in ("id-token", "attestations", "models")
}
RESTRICTED = {"contents": "read", "packages": "read"}


@dataclass
class Token:
    """One token: its kind, the login it acts as, and its permissions by scope."""

    value: str
    kind: str  # workflow | app | user
    login: str
    permissions: dict[str, str]
    admin: bool = False
    run_id: int | None = None
    revoked: bool = False
    labels: dict[str, Any] = field(default_factory=dict)

    @property
    def starts_workflows(self) -> bool:
        """False for a ``GITHUB_TOKEN``: its push and pull_request events start nothing."""
        return self.kind != "workflow"

    @property
    def described(self) -> str:
        """For messages: ``GITHUB_TOKEN (github-actions[bot])`` etc."""
        kinds = {
            "workflow": "GITHUB_TOKEN",
            "app": "a GitHub App token",
            "user": "a personal token",
        }
        return f"{kinds[self.kind]} ({self.login})"

    def can(self, scope: str, level: str) -> bool:
        """Whether the token holds ``scope`` at ``level`` (read or write) or more."""
        if self.revoked:
            return False
        if self.admin:
            return True
        return LEVEL[self.permissions.get(scope, "none")] >= LEVEL[level]


def job_permissions(workflow_level: Any, job_level: Any, default_mode: str) -> dict[str, str]:
    """The GITHUB_TOKEN permissions of a job (job-level ``permissions`` replace workflow-level).

    Raises:
        ValueError: An unknown scope or level.
    """
    spec = job_level if job_level is not None else workflow_level
    if spec is None:
        return dict(PERMISSIVE if default_mode == "write" else RESTRICTED)
    if spec == "read-all":
        return dict.fromkeys(SCOPES, "read")
    if spec == "write-all":
        return dict.fromkeys(SCOPES, "write")
    if not isinstance(spec, dict):
        raise ValueError(f"permissions must be read-all, write-all or a mapping, not {spec!r}")
    out = {}
    for scope, level in spec.items():
        if scope not in SCOPES or level not in LEVEL:
            raise ValueError(f"permissions: unknown '{scope}: {level}'")
        if level != "none":
            out[str(scope)] = str(level)
    return out


class TokenTable:
    """Every token the twin minted, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}

    def mint(self, kind: str, login: str, permissions: dict[str, str], **extra: Any) -> Token:
        """A new token of ``kind`` for ``login``."""
        prefix = {"workflow": "ghs_wf_", "app": "ghs_app_", "user": "ghp_"}[kind]
        token = Token(prefix + secrets.token_hex(18), kind, login, dict(permissions), **extra)
        with self._lock:
            self._tokens[token.value] = token
        return token

    def get(self, value: str | None) -> Token | None:
        """The live token with this value, or None."""
        if not value:
            return None
        with self._lock:
            token = self._tokens.get(value.strip())
        return token if token is not None and not token.revoked else None

    def revoke(self, value: str) -> None:
        """Revoke a token (the end of a job)."""
        with self._lock:
            if value in self._tokens:
                self._tokens[value].revoked = True
