"""Workflow runs: queue, workflow-level concurrency, the jobs (``jobgraph``), the conclusion.

A run's conclusion: ``cancelled`` when the run was cancelled, else ``failure`` when a job
failed, else ``cancelled`` when a job was cancelled (a timed-out job is), else ``success``
(skipped jobs do not fail a run).
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from typing import TYPE_CHECKING, Any

from twin.github.concurrency import ConcurrencyGroups, Holder, concurrency_spec
from twin.github.contexts import github_context
from twin.github.expr_values import ExpressionError
from twin.github.expressions import Context, render_str
from twin.github.jobgraph import run_jobs
from twin.github.records import EventRecord, RunRecord, now
from twin.github.tokens import Token
from twin.github.triggers import Event
from twin.github.workflow import Workflow

if TYPE_CHECKING:
    from twin.github.service import GitHubTwin

log = logging.getLogger(__name__)


def workflow_id(path: str) -> int:
    """A stable id for a workflow file."""
    return 100000 + zlib.crc32(path.encode()) % 900000


class Runner:
    """Starts runs in threads and keeps them until the server stops."""

    def __init__(self, twin: GitHubTwin) -> None:
        self.twin = twin
        self.groups = ConcurrencyGroups()
        self.threads: list[threading.Thread] = []
        self.stopping = threading.Event()  # the server is shutting down: start nothing more

    def _record(
        self, path: str, name: str, event: Event, token: Token, record: EventRecord
    ) -> RunRecord:
        store = self.twin.store
        run = RunRecord(
            id=store.next_id(),
            number=store.next_run_number(path),
            workflow_id=workflow_id(path),
            path=path,
            name=name,
            display_title=name,
            event=event.name,
            head_sha=event.head_sha or event.sha,
            head_branch=event.head_ref or event.ref_name,
            sha=event.sha,
            ref=event.ref,
            actor=token.login,
            event_id=record.id,
        )
        if event.pr_number:
            run.pull_requests = [
                {
                    "number": event.pr_number,
                    "head": {"ref": event.head_ref},
                    "base": {"ref": event.base_ref},
                }
            ]
        with store.lock:
            store.runs[run.id] = run
        store.notify()
        return run

    def invalid(
        self, path: str, error: str, event: Event, token: Token, record: EventRecord
    ) -> RunRecord:
        """A failed run for a workflow file GitHub would refuse (GitHub shows one too)."""
        run = self._record(path, path, event, token, record)
        with self.twin.store.lock:
            run.annotations.append({"level": "error", "message": f"Invalid workflow file: {error}"})
            run.status, run.conclusion = "completed", "failure"
        self.twin.store.notify()
        return run

    def start(
        self, workflow: Workflow, event: Event, token: Token, record: EventRecord
    ) -> RunRecord:
        """Queue a run of ``workflow`` for ``event`` and start its thread."""
        run = self._record(workflow.path, workflow.name, event, token, record)
        base = self.run_context(run, workflow, event)
        try:
            title = workflow.doc.get("run-name")
            run.display_title = (
                render_str(title, base) if title else _default_title(workflow, event)
            )
        except ExpressionError as exc:
            run.display_title = workflow.name
            run.annotations.append({"level": "error", "message": f"run-name: {exc}"})
        thread = threading.Thread(
            target=self._run, args=(run, workflow, event, base), name=f"run-{run.id}", daemon=True
        )
        self.threads.append(thread)
        thread.start()
        return run

    def run_context(self, run: RunRecord, workflow: Workflow, event: Event) -> Context:
        """The contexts of run-level expressions: github, inputs, vars."""
        branch = event.ref.removeprefix("refs/heads/")
        github = github_context(
            run=run,
            event=event,
            workflow_name=workflow.name,
            server_url=self.twin.url,
            api_url=self.twin.api_url,
            protected=branch in self.twin.config["branch_protection"],
        )
        values = {
            "github": github,
            "inputs": dict(event.inputs),
            "vars": dict(self.twin.config["variables"]),
        }
        return Context(values=values)

    def cancel(self, run_id: int, message: str = "The run was canceled by a user.") -> bool:
        """Cancel a run (its steps' process groups are killed); False when already finished."""
        with self.twin.store.lock:
            run = self.twin.store.runs.get(run_id)
            if run is None or run.status == "completed":
                return False
            run.annotations.append({"level": "error", "message": message})
            run.cancel.set()
        self.groups.wake()
        self.twin.store.notify()
        return True

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel every unfinished run (no further step starts) and wait, bounded, for them."""
        self.stopping.set()
        with self.twin.store.lock:
            ids = [r.id for r in self.twin.store.runs.values() if r.status != "completed"]
        for run_id in ids:
            self.cancel(run_id, "The twin is shutting down.")
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _run(self, run: RunRecord, workflow: Workflow, event: Event, base: Context) -> None:
        holder = Holder(
            f"run {run.id}",
            run.cancel,
            on_cancel=lambda m: _annotate(run, m),
            on_pending=lambda: self._set_status(run, "pending"),
        )
        group = None
        try:
            group, cancel_in_progress, queue = concurrency_spec(
                workflow.doc.get("concurrency"), base
            )
            if group:
                run.concurrency_group = group
                if not self.groups.acquire(
                    group, holder, cancel_in_progress=cancel_in_progress, queue=queue
                ):
                    self._finish(run, "cancelled")
                    return
            with self.twin.store.lock:
                run.status, run.run_started_at = "in_progress", now()
            self.twin.store.notify()
            results = run_jobs(self, run, workflow, event, base)
            self._finish(run, _conclusion(run, results))
        except Exception as exc:  # noqa: BLE001 - a broken run must end as a failed run, not a dead thread
            log.exception("run %s failed inside the twin", run.id)
            _annotate(run, f"twin runner error: {exc}")
            self._finish(run, "failure")
        finally:
            if group:
                self.groups.release(group, holder)

    def _set_status(self, run: RunRecord, status: str) -> None:
        with self.twin.store.lock:
            run.status = status
        self.twin.store.notify()

    def _finish(self, run: RunRecord, conclusion: str) -> None:
        with self.twin.store.lock:
            run.status, run.conclusion, run.updated_at = "completed", conclusion, now()
        self.twin.store.notify()
        log.info("run %s (%s) %s", run.id, run.path, conclusion)


def _annotate(run: RunRecord, message: str) -> None:
    run.annotations.append({"level": "error", "message": message})


def _conclusion(run: RunRecord, results: dict[str, dict[str, Any]]) -> str:
    if run.cancel.is_set():
        return "cancelled"
    # A failed job with continue-on-error: true does not fail the run.
    values = [
        r["result"]
        for r in results.values()
        if not (r.get("continue_on_error") and r["result"] == "failure")
    ]
    if "failure" in values:
        return "failure"
    if "cancelled" in values:
        return "cancelled"
    return "success"


def _default_title(workflow: Workflow, event: Event) -> str:
    payload = event.payload
    if event.name == "push" and payload.get("head_commit"):
        return str(payload["head_commit"]["message"]).splitlines()[0]
    if event.name == "pull_request":
        return str(payload["pull_request"]["title"])
    return workflow.name
