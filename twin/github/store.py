"""The fake GitHub's memory: pull requests, comments, reviews, statuses, check runs, runs, events.

One re-entrant lock guards everything; ``changed`` (a condition on that lock) wakes waiters
(``GET /_twin/wait``) whenever a run or job changes, so clients never poll with sleeps.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from twin.github.records import EventRecord, RunRecord, now


class Store:
    """All records, by id."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._ids = itertools.count(1001)
        self._numbers = itertools.count(1)
        self._run_numbers: dict[str, itertools.count[int]] = {}
        self.pulls: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        self.reviews: dict[int, list[dict[str, Any]]] = {}
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        self.check_runs: dict[int, dict[str, Any]] = {}
        self.runs: dict[int, RunRecord] = {}
        self.events: dict[int, EventRecord] = {}
        self.version = 0  # bumped on every change, for long-polling clients

    def next_id(self) -> int:
        """A fresh id for any record."""
        with self.lock:
            return next(self._ids)

    def next_issue_number(self) -> int:
        """Pull requests share GitHub's issue numbering: 1, 2, 3, ..."""
        with self.lock:
            return next(self._numbers)

    def next_run_number(self, workflow_path: str) -> int:
        """Run numbers count per workflow."""
        with self.lock:
            counter = self._run_numbers.setdefault(workflow_path, itertools.count(1))
            return next(counter)

    def notify(self) -> None:
        """Wake every waiter (a run, job or event changed)."""
        with self.lock:
            self.version += 1
            self.changed.notify_all()

    def add_event(self, **fields: Any) -> EventRecord:
        """Record an event."""
        with self.lock:
            record = EventRecord(id=self.next_id(), **fields)
            self.events[record.id] = record
            self.notify()
            return record

    def add_status(
        self, sha: str, state: str, context: str, description: str, target_url: str, creator: str
    ) -> dict[str, Any]:
        """A commit status (``POST /statuses/{sha}``)."""
        with self.lock:
            status = {
                "id": self.next_id(),
                "state": state,
                "context": context,
                "description": description,
                "target_url": target_url,
                "creator": {"login": creator},
                "created_at": now(),
                "updated_at": now(),
            }
            self.statuses.setdefault(sha, []).append(status)
            return status

    def add_check_run(
        self, sha: str, name: str, status: str, conclusion: str | None, app: str
    ) -> dict[str, Any]:
        """A check run (a workflow job reports one on its head commit)."""
        with self.lock:
            check: dict[str, Any] = {
                "id": self.next_id(),
                "head_sha": sha,
                "name": name,
                "status": status,
                "conclusion": conclusion,
                "started_at": now(),
                "completed_at": now() if status == "completed" else None,
                "app": {"slug": app},
            }
            self.check_runs[check["id"]] = check
            return check

    def update_check_run(self, check_id: int, **fields: Any) -> dict[str, Any]:
        """Change a check run's status/conclusion."""
        with self.lock:
            check = self.check_runs[check_id]
            check.update(fields)
            if fields.get("status") == "completed":
                check["completed_at"] = now()
            return check

    def check_state(self, sha: str, context: str) -> str:
        """``success``, ``pending``, ``failure`` or ``expected`` for one required check on ``sha``.

        The newest check run of that name wins over older ones; a commit status of that context
        counts the same. Skipped and neutral check runs pass, as on GitHub.
        """
        with self.lock:
            checks = [
                c for c in self.check_runs.values() if c["head_sha"] == sha and c["name"] == context
            ]
            statuses = [s for s in self.statuses.get(sha, []) if s["context"] == context]
        if checks:
            newest = max(checks, key=lambda c: c["id"])
            if newest["status"] != "completed":
                return "pending"
            return (
                "success"
                if newest["conclusion"] in ("success", "neutral", "skipped")
                else "failure"
            )
        if statuses:
            state = statuses[-1]["state"]
            return (
                "pending"
                if state == "pending"
                else ("success" if state == "success" else "failure")
            )
        return "expected"

    def wait(self, predicate: Any, timeout: float) -> bool:
        """Block until ``predicate()`` is true or ``timeout`` seconds pass."""
        with self.changed:
            return bool(self.changed.wait_for(predicate, timeout=timeout))
