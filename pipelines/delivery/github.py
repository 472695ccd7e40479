"""A small GitHub REST client: pull requests and the one report comment updated in place.

The HTTP call is one injectable function (``Transport``), so tests replace only that call and
everything above it (request building, pagination, finding the comment by its marker) is real.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from pipelines.errors import PipelineError

# (method, url, headers, json body) -> (status code, decoded json body)
Transport = Callable[[str, str, dict[str, str], Any], tuple[int, Any]]


class GitHubError(PipelineError):
    """The GitHub API refused a request."""


def httpx_transport(method: str, url: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
    """The real transport: one HTTPS request with a bounded timeout."""
    response = httpx.request(method, url, headers=headers, json=body, timeout=30.0)
    try:
        payload = response.json() if response.content else None
    except ValueError:
        payload = {"message": response.text[:200]}
    return response.status_code, payload


@dataclass
class GitHubClient:
    """Pull requests and issue comments of one repository.

    Attributes:
        repository: ``owner/name``.
        token: A token with ``pull-requests: write`` (GITHUB_TOKEN in Actions).
        api_url: REST endpoint.
        transport: The HTTP call (replaced in tests).
    """

    repository: str
    token: str
    api_url: str = "https://api.github.com"
    transport: Transport = httpx_transport

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self.token}",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        url = f"{self.api_url.rstrip('/')}/repos/{self.repository}{path}"
        status, payload = self.transport(method, url, headers, body)
        if status >= 300:
            message = payload.get("message", "") if isinstance(payload, dict) else ""
            raise GitHubError(f"GitHub {method} {path}: HTTP {status} {message}".rstrip())
        return payload

    def find_open_pull(self, head: str, base: str) -> dict[str, Any] | None:
        """The open pull request from branch ``head`` into ``base``, if any."""
        owner = self.repository.split("/", 1)[0]
        pulls = self._call("GET", f"/pulls?state=open&head={owner}:{head}&base={base}")
        return pulls[0] if pulls else None

    def open_pull(self, head: str, base: str, title: str, body: str) -> tuple[dict[str, Any], bool]:
        """Open a pull request, or update the body of the one already open.

        Returns:
            The pull request and whether this call created it.
        """
        existing = self.find_open_pull(head, base)
        if existing is None:
            payload = {"title": title, "head": head, "base": base, "body": body}
            return self._call("POST", "/pulls", payload), True
        if existing.get("body") != body or existing.get("title") != title:
            existing = self._call(
                "PATCH", f"/pulls/{existing['number']}", {"title": title, "body": body}
            )
        return existing, False

    def upsert_comment(self, number: int, marker: str, body: str) -> str:
        """Create the comment holding ``marker`` or update it in place.

        Returns:
            ``created``, ``updated`` or ``unchanged``.
        """
        text = f"{marker}\n{body}"
        page = 1
        while True:
            comments = self._call("GET", f"/issues/{number}/comments?per_page=100&page={page}")
            for comment in comments:
                if marker in (comment.get("body") or ""):
                    if comment["body"] == text:
                        return "unchanged"
                    self._call("PATCH", f"/issues/comments/{comment['id']}", {"body": text})
                    return "updated"
            if len(comments) < 100:
                break
            page += 1
        self._call("POST", f"/issues/{number}/comments", {"body": text})
        return "created"

    def dispatch(self, event_type: str, payload: dict[str, Any]) -> None:
        """Send a ``repository_dispatch`` event (the deploy workflow's rollback path)."""
        self._call("POST", "/dispatches", {"event_type": event_type, "client_payload": payload})
