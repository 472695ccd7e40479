"""A run's jobs in ``needs`` order, with their ``if:`` conditions.

A job starts when every job it needs has finished; its ``if:`` (default ``success()``) sees the
``needs`` context (direct dependencies), and ``success()`` means every job it depends on,
directly or not, succeeded. A skipped or failed dependency therefore skips it unless its
condition says otherwise (``always()``, ``failure()``). Independent jobs run in parallel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twin.github.expr_values import ExpressionError
from twin.github.expressions import Context, condition
from twin.github.jobrun import JobRun
from twin.github.records import JobRecord, RunRecord, now
from twin.github.triggers import Event
from twin.github.workflow import Workflow, needs_of

if TYPE_CHECKING:
    from twin.github.runner import Runner
    from twin.github.service import GitHubTwin


def run_jobs(
    runner: Runner, run: RunRecord, workflow: Workflow, event: Event, base: Context
) -> dict[str, dict[str, Any]]:
    """Run every job of ``run`` in ``needs`` order; ``{job id: {result, outputs}}``."""
    jobs = workflow.jobs
    results: dict[str, dict[str, Any]] = {}
    started: dict[str, threading.Thread] = {}
    done = threading.Condition(runner.twin.store.lock)

    def ancestors(key: str) -> set[str]:
        out: set[str] = set()
        for need in needs_of(jobs[key]):
            out |= {need} | ancestors(need)
        return out

    def body(key: str, needs: dict[str, Any]) -> None:
        job_run = JobRun(runner, run, workflow, event, key, jobs[key], needs)
        outcome = job_run.execute()
        with done:
            results[key] = outcome
            done.notify_all()

    with done:
        while len(results) < len(jobs):
            for key, job in jobs.items():
                if key in started or key in results or any(n not in results for n in needs_of(job)):
                    continue
                if runner.stopping.is_set():
                    _skipped(runner.twin, run, key, job, "The twin is shutting down.", "cancelled")
                    results[key] = {"result": "cancelled", "outputs": {}}
                    continue
                needs = {n: results[n] for n in needs_of(job)}
                upstream = [results[a]["result"] for a in ancestors(key)]
                ctx = Context(values={**base.values, "needs": needs, "strategy": {}, "matrix": {}})
                ctx.status = _job_status_functions(upstream, run)
                try:
                    go = condition(job.get("if"), ctx)
                except ExpressionError as exc:
                    _skipped(runner.twin, run, key, job, f"jobs.{key}.if: {exc}", "failure")
                    results[key] = {"result": "failure", "outputs": {}}
                    continue
                if not go:
                    _skipped(runner.twin, run, key, job, "", "skipped")
                    results[key] = {"result": "skipped", "outputs": {}}
                    continue
                thread = threading.Thread(
                    target=body, args=(key, needs), name=f"job-{run.id}-{key}", daemon=True
                )
                started[key] = thread
                thread.start()
            if len(results) < len(jobs):
                done.wait(timeout=1.0)
    return results


def _skipped(
    twin: GitHubTwin, run: RunRecord, key: str, job: dict[str, Any], message: str, conclusion: str
) -> None:
    name = job.get("name") if isinstance(job.get("name"), str) and "${{" not in job["name"] else key
    record = JobRecord(
        id=twin.store.next_id(),
        run_id=run.id,
        key=key,
        name=str(name),
        head_sha=run.head_sha,
        head_branch=run.head_branch,
    )
    record.status, record.conclusion, record.completed_at = "completed", conclusion, now()
    if message:
        record.annotations.append({"level": "error", "message": message})
    with twin.store.lock:
        run.jobs.append(record)
    twin.store.add_check_run(run.head_sha, record.name, "completed", conclusion, "github-actions")
    twin.store.notify()


def _job_status_functions(upstream: list[str], run: RunRecord) -> dict[str, Callable[[], bool]]:
    """``success()`` etc. of a job's ``if:``: over every job it depends on, directly or not."""

    def success() -> bool:
        return all(r == "success" for r in upstream) and not run.cancel.is_set()

    def failure() -> bool:
        return any(r == "failure" for r in upstream)

    return {
        "success": success,
        "failure": failure,
        "cancelled": run.cancel.is_set,
        "always": lambda: True,
    }
