"""What the fake GitHub remembers: runs, jobs, steps, events and why they started nothing.

Records are plain dataclasses guarded by the store's lock; ``*_json`` give GitHub's REST shapes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def now() -> str:
    """ISO-8601 UTC time as GitHub writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class StepRecord:
    """One step of a job."""

    number: int
    name: str
    status: str = "queued"  # queued | in_progress | completed
    conclusion: str | None = None  # success | failure | cancelled | skipped
    outcome: str | None = None  # before continue-on-error
    started_at: str | None = None
    completed_at: str | None = None
    log: str = ""  # path relative to the run folder

    def json(self) -> dict[str, Any]:
        """GitHub's step shape."""
        return {
            "name": self.name,
            "status": self.status,
            "conclusion": self.conclusion,
            "number": self.number,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
        }


@dataclass
class JobRecord:
    """One job of a run."""

    id: int
    run_id: int
    key: str  # the job's id in the YAML
    name: str
    head_sha: str
    head_branch: str
    status: str = "queued"  # queued | waiting | pending | in_progress | completed
    conclusion: str | None = None
    labels: list[str] = field(default_factory=list)
    runner_name: str | None = None
    environment: str | None = None
    approvals: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)
    annotations: list[dict[str, str]] = field(default_factory=list)
    summary: str = ""
    created_at: str = field(default_factory=now)
    started_at: str | None = None
    completed_at: str | None = None
    check_run_id: int | None = None

    def json(self, api: str, workflow_name: str) -> dict[str, Any]:
        """GitHub's workflow-job shape."""
        return {
            "id": self.id,
            "run_id": self.run_id,
            "workflow_name": workflow_name,
            "head_branch": self.head_branch,
            "head_sha": self.head_sha,
            "url": f"{api}/actions/jobs/{self.id}",
            "status": self.status,
            "conclusion": self.conclusion,
            "name": self.name,
            "steps": [s.json() for s in self.steps],
            "labels": self.labels,
            "runner_name": self.runner_name,
            "runner_group_name": "Default" if self.runner_name else None,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
        }


@dataclass
class RunRecord:
    """One workflow run."""

    id: int
    number: int
    workflow_id: int
    path: str
    name: str
    display_title: str
    event: str
    head_sha: str
    head_branch: str
    sha: str
    ref: str
    actor: str
    event_id: int
    status: str = "queued"  # queued | pending | waiting | in_progress | completed
    conclusion: str | None = None
    jobs: list[JobRecord] = field(default_factory=list)
    annotations: list[dict[str, str]] = field(default_factory=list)
    pull_requests: list[dict[str, Any]] = field(default_factory=list)
    concurrency_group: str | None = None
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)
    run_started_at: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def json(self, api: str, html: str) -> dict[str, Any]:
        """GitHub's workflow-run shape."""
        return {
            "id": self.id,
            "name": self.name,
            "display_title": self.display_title,
            "node_id": f"WFR_{self.id}",
            "head_branch": self.head_branch,
            "head_sha": self.head_sha,
            "path": self.path,
            "run_number": self.number,
            "run_attempt": 1,
            "event": self.event,
            "status": self.status,
            "conclusion": self.conclusion,
            "workflow_id": self.workflow_id,
            "url": f"{api}/actions/runs/{self.id}",
            "html_url": f"{html}/actions/runs/{self.id}",
            "jobs_url": f"{api}/actions/runs/{self.id}/jobs",
            "pull_requests": self.pull_requests,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "run_started_at": self.run_started_at,
            "actor": {"login": self.actor},
            "triggering_actor": {"login": self.actor},
        }


@dataclass
class EventRecord:
    """An event the fake GitHub received, what it started, and why not."""

    id: int
    name: str
    ref: str
    sha: str
    actor: str
    token: str  # how the actor authenticated, e.g. "GITHUB_TOKEN (github-actions[bot])"
    action: str = ""
    pr: int | None = None
    runs: list[int] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # {workflow, reason}
    reason: str = ""  # set when the event as a whole started nothing
    created_at: str = field(default_factory=now)

    def json(self) -> dict[str, Any]:
        """The twin's event record (``GET /_twin/events``)."""
        return {
            "id": self.id,
            "event": self.name,
            "action": self.action,
            "ref": self.ref,
            "sha": self.sha,
            "actor": self.actor,
            "token": self.token,
            "pull_request": self.pr,
            "runs": self.runs,
            "skipped": self.skipped,
            "reason": self.reason,
            "created_at": self.created_at,
        }
