"""The GitHub side of ``pipelines doctor``: secrets, variables, environments and their rules.

Read through the REST API (``GITHUB_API_URL``, token from ``GITHUB_TOKEN`` or ``GH_TOKEN``: a
fine-grained token with read access to the repository's administration, environments, secrets
and variables). Secret values are never readable and never asked for: only their names.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from pipelines.delivery.doctor_workflows import JobInfo, Need
from pipelines.errors import PipelineError

APPROVAL_ENVIRONMENTS = ("staging", "prod")
_LISTS = {
    "secret": ("secrets", "secrets"),
    "variable": ("variables", "variables"),
}


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report: ``status`` is ok, missing or info."""

    status: str
    item: str
    detail: str

    def line(self) -> str:
        """``<STATUS>  <item>: <detail>`` with the status padded to one width."""
        return f"{self.status.upper():<8} {self.item}: {self.detail}"


@dataclass
class GitHubReader:
    """GET requests against one repository's REST API."""

    api_url: str
    repository: str
    token: str
    timeout: float = 15.0

    def get(self, path: str) -> tuple[int, Any]:
        """``(status, json)`` of ``GET /repos/<repository><path>`` (``path`` may be absolute).

        Raises:
            PipelineError: The API cannot be reached at all.
        """
        url = path if path.startswith("/orgs") else f"/repos/{self.repository}{path}"
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self.token}",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        try:
            response = httpx.get(
                f"{self.api_url.rstrip('/')}{url}", headers=headers, timeout=self.timeout
            )
        except httpx.HTTPError as exc:
            raise PipelineError(f"GITHUB_API_URL={self.api_url}: unreachable ({exc})") from None
        try:
            payload = response.json() if response.content else None
        except ValueError:
            payload = None
        return response.status_code, payload

    def names(self, path: str, key: str) -> set[str]:
        """Names listed at ``path`` (empty when the API answers anything but 200)."""
        status, payload = self.get(f"{path}?per_page=100")
        if status != 200 or not isinstance(payload, dict):
            return set()
        return {str(item.get("name")) for item in payload.get(key) or []}

    def variable(self, name: str, environment: str | None = None) -> str | None:
        """A variable's value (environment scope first, then the repository), or None."""
        paths = [f"/environments/{environment}/variables/{name}"] if environment else []
        for path in [*paths, f"/actions/variables/{name}"]:
            status, payload = self.get(path)
            if status == 200 and isinstance(payload, dict) and payload.get("value") is not None:
                return str(payload["value"])
        return None


def _scopes(
    reader: GitHubReader, kind: str, environments: Iterable[str]
) -> dict[str | None, set[str]]:
    plural, key = _LISTS[kind]
    shared = reader.names(f"/actions/{plural}", key) | reader.names(
        f"/actions/organization-{plural}", key
    )
    scopes: dict[str | None, set[str]] = {None: shared}
    for env in environments:
        scopes[env] = shared | reader.names(f"/environments/{env}/{plural}", key)
    return scopes


def need_checks(reader: GitHubReader, jobs: list[JobInfo]) -> list[Check]:
    """One line per secret and variable the workflows read, with the scopes that lack it."""
    needs: dict[tuple[str, str], list[Need]] = defaultdict(list)
    users: dict[tuple[str, str], set[str]] = defaultdict(set)
    for job in jobs:
        for need in job.needs:
            needs[(need.kind, need.name)].append(need)
            users[(need.kind, need.name)].add(job.workflow)
    environments = sorted({n.environment for ns in needs.values() for n in ns if n.environment})
    scopes = {kind: _scopes(reader, kind, environments) for kind in _LISTS}
    checks = []
    for (kind, name), uses in sorted(needs.items(), key=lambda item: (item[0][0], item[0][1])):
        lacking = sorted(
            {n.environment or "repository" for n in uses if name not in scopes[kind][n.environment]}
        )
        where = ", ".join(sorted(users[(kind, name)]))
        item = f"{kind} {name}"
        if not lacking:
            checks.append(Check("ok", item, f"set (read by {where})"))
        elif all(n.optional for n in uses):
            checks.append(Check("info", item, f"not set: optional, the default applies ({where})"))
        else:
            scope = (
                "the repository"
                if lacking == ["repository"]
                else f"environment {', '.join(lacking)}"
            )
            checks.append(Check("missing", item, f"not visible to {scope} (read by {where})"))
    return checks


def environment_checks(reader: GitHubReader, environments: Iterable[str]) -> list[Check]:
    """Every environment exists; staging and prod deployments wait for a required reviewer."""
    checks = []
    for env in sorted(set(environments)):
        status, payload = reader.get(f"/environments/{env}")
        if status != 200 or not isinstance(payload, dict):
            checks.append(Check("missing", f"environment {env}", f"does not exist (HTTP {status})"))
            continue
        if env not in APPROVAL_ENVIRONMENTS:
            checks.append(Check("ok", f"environment {env}", "exists"))
            continue
        reviewers = [
            r
            for rule in payload.get("protection_rules") or []
            if rule.get("type") == "required_reviewers"
            for r in rule.get("reviewers") or []
        ]
        if reviewers:
            checks.append(
                Check("ok", f"environment {env}", f"{len(reviewers)} required reviewer(s)")
            )
        else:
            checks.append(
                Check(
                    "missing", f"environment {env}", "no required reviewers: deploys would not wait"
                )
            )
    return checks


def actions_pr_check(reader: GitHubReader) -> Check:
    """The repository setting that lets ``GITHUB_TOKEN`` open pull requests (informational).

    The workflows open pull requests with the GitHub App's token, never with ``GITHUB_TOKEN``
    (whose pull requests start no CI), so the setting is reported, not required.
    """
    status, payload = reader.get("/actions/permissions/workflow")
    item = "setting Actions may create pull requests"
    if status != 200 or not isinstance(payload, dict):
        return Check("info", item, f"unknown (HTTP {status}); not needed with the App token")
    allowed = bool(payload.get("can_approve_pull_request_reviews"))
    state = "on" if allowed else "off"
    return Check("info", item, f"{state}; not needed: pull requests are opened with the App token")
