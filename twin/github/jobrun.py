"""One job: runner labels, environment, concurrency, ``GITHUB_TOKEN``, then its steps in order.

Each job runs in a fresh folder ``<twin>/github/runs/<run id>/<job id>/`` (``workspace``,
``home``, ``temp``, ``tools``, ``logs/<NN>-<step>.log``, ``summary.md``). As on a hosted
runner, a finished job's workspace, home, temp, tools and file commands are discarded, in the
background (``runner.keep_workspaces`` or ``TWIN_KEEP_WORKSPACES=1`` keeps them), after the
bytecode its venv compiled is kept in the runner's uv cache (``twin.github.bytecode``): its
event, logs and summary stay. Job-level
``timeout-minutes`` (default 360) cancels the job as GitHub does ("The job has exceeded the
maximum execution time"); afterwards only ``always()``/``cancelled()`` steps run.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.github import bytecode
from twin.github.concurrency import Holder, concurrency_spec
from twin.github.contexts import default_env, image_env
from twin.github.expr_values import ExpressionError, truthy
from twin.github.expressions import Context, render, render_str
from twin.github.jobsetup import (
    DEFAULT_TIMEOUT_MINUTES,
    JobFailed,
    annotate_error,
    check_labels,
    environment_gate,
    job_outputs,
    start_job,
)
from twin.github.records import JobRecord, StepRecord, now
from twin.github.stepexec import LineSink, kill_orphans
from twin.github.steprun import run_steps

if TYPE_CHECKING:
    from twin.github.records import RunRecord
    from twin.github.runner import Runner
    from twin.github.triggers import Event
    from twin.github.workflow import Workflow

log = logging.getLogger(__name__)


def discard_in_background(
    folders: list[Path], venv: Path | None = None, uv_cache: str | None = None
) -> None:
    """Remove ``folders`` on a daemon thread, first keeping ``venv``'s bytecode in ``uv_cache``.

    A week of jobs leaves gigabytes of checkouts, virtual environments and DVC caches; removing
    them in line would add a second or more to every job.
    """

    def remove() -> None:
        if venv is not None and uv_cache:
            try:
                bytecode.harvest(venv, Path(uv_cache))
            except OSError as exc:  # a cache it cannot write to costs the next jobs a compile
                log.warning("bytecode of %s not kept: %s", venv, exc)
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)

    threading.Thread(target=remove, name="discard-job-folders", daemon=True).start()


def duration_text(minutes: float) -> str:
    """Go-style duration, as GitHub prints it (``1h0m0s``, ``5m0s``, ``3s``)."""
    seconds = int(round(minutes * 60))
    hours, rest = divmod(seconds, 3600)
    mins, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{mins}m{secs}s"
    return f"{mins}m{secs}s" if mins else f"{secs}s"


class JobRun:
    """Executes one job of a run and reports it (job record, check run, logs)."""

    def __init__(
        self,
        runner: Runner,
        run: RunRecord,
        workflow: Workflow,
        event: Event,
        key: str,
        job: dict[str, Any],
        needs: dict[str, Any],
    ) -> None:
        self.runner, self.twin = runner, runner.twin
        self.run, self.workflow, self.event, self.key, self.job, self.needs = (
            run,
            workflow,
            event,
            key,
            job,
            needs,
        )
        self.cancel = threading.Event()
        self.timed_out = False
        self.status = "success"
        self.env: dict[str, str] = {}
        self.path_prefix: list[str] = []
        self.steps_ctx: dict[str, Any] = {}
        self.masks: list[str] = []
        self.tokens: list[str] = []
        self.pgids: list[int] = []
        self.environment: str | None = None
        self.secrets: dict[str, str] = {}
        self.variables: dict[str, str] = dict(self.twin.config["variables"])
        self.deadline = float("inf")
        self.folder = self.twin.runs_dir / str(run.id) / key
        self.workspace, self.home = self.folder / "workspace", self.folder / "home"
        self.temp, self.tool_dir, self.logs = (
            self.folder / "temp",
            self.folder / "tools",
            self.folder / "logs",
        )
        self.file_commands = self.folder / "file_commands"  # GITHUB_ENV, GITHUB_OUTPUT, ...
        self.base = runner.run_context(run, workflow, event)
        self.github: dict[str, Any] = dict(self.base.values["github"])
        self.labels: list[str] = []
        self.record = JobRecord(
            id=self.twin.store.next_id(),
            run_id=run.id,
            key=key,
            name=key,
            head_sha=run.head_sha,
            head_branch=run.head_branch,
        )
        self.token_value = ""
        self.image: dict[str, str] = {}
        self.summaries: list[str] = []
        self.registry_logins: dict[str, str] = {}
        self.timeout_minutes = DEFAULT_TIMEOUT_MINUTES

    # -- what the steps and actions use ---------------------------------------------------
    def cancelled(self) -> bool:
        """Whether the run or this job was cancelled (or timed out)."""
        return self.run.cancel.is_set() or self.cancel.is_set()

    def set_env(self, name: str, value: str) -> None:
        """``GITHUB_ENV``: a variable for the following steps."""
        self.env[name] = value

    def add_path(self, folder: str) -> None:
        """``GITHUB_PATH``: a folder in front of PATH for the following steps."""
        self.path_prefix.insert(0, folder)

    def add_mask(self, value: str) -> None:
        """``::add-mask::``: hide a value in every later log line."""
        if value.strip():
            self.masks.append(value.strip())

    def revoke_at_end(self, token: str) -> None:
        """Revoke a token minted in this job when it ends."""
        self.tokens.append(token)

    def context(self, step_env: dict[str, str] | None = None) -> Context:
        """Contexts of step-level expressions."""
        values = {
            **self.base.values,
            "github": self.github,
            "needs": self.needs,
            "strategy": {},
            "matrix": {},
            "vars": self.variables,
            "secrets": self.secrets,
            "env": {**self.env, **(step_env or {})},
            "steps": self.steps_ctx,
            "job": {
                "status": self.status,
                "container": {},
                "services": {},
                "check_run_id": self.record.check_run_id,
            },
            "runner": {
                "name": self.record.runner_name,
                "os": "Linux",
                "arch": "X64",
                "temp": str(self.temp),
                "tool_cache": str(self.tool_dir),
                "debug": "",
                "environment": self.image.get("RUNNER_ENVIRONMENT_KIND", "github-hosted"),
            },
        }
        return Context(values=values, workspace=self.workspace)

    def process_env(self, step_env: dict[str, str], files: dict[str, str]) -> dict[str, str]:
        """The full environment of a step's process."""
        runner = {
            "environment": self.image.get("RUNNER_ENVIRONMENT_KIND", "github-hosted"),
            "name": self.record.runner_name or "",
            "temp": str(self.temp),
            "tool_cache": str(self.tool_dir),
        }
        env = {k: v for k, v in self.image.items() if k != "RUNNER_ENVIRONMENT_KIND"}
        env.update(default_env(self.github, files, runner))
        env.update(self.env)
        env.update(step_env)
        env["PATH"] = ":".join([*self.path_prefix, env.get("PATH", "")])
        return env

    def sink(self, number: int, name: str) -> tuple[LineSink, str]:
        """A log for step ``number`` and its path relative to the run folder."""
        slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:40] or "step"
        path = self.logs / f"{number:02d}-{slug}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        return LineSink(path, self.masks), str(
            path.relative_to(self.twin.runs_dir / str(self.run.id))
        )

    # -- the job ------------------------------------------------------------------------
    def execute(self) -> dict[str, Any]:
        """Run the job; ``{"result": success|failure|cancelled, "outputs": {...}}``."""
        store = self.twin.store
        ctx = Context(
            values={**self.base.values, "needs": self.needs, "strategy": {}, "matrix": {}}
        )
        try:
            self.record.name = render_str(self.job.get("name", self.key), ctx) or self.key
        except ExpressionError:
            self.record.name = self.key
        with store.lock:
            self.run.jobs.append(self.record)
        check = store.add_check_run(
            self.run.head_sha, self.record.name, "queued", None, "github-actions"
        )
        self.record.check_run_id = check["id"]
        store.notify()
        group, holder = (
            None,
            Holder(f"job {self.record.id}", self.cancel, on_cancel=self._annotate_error),
        )
        outputs: dict[str, str] = {}
        try:
            self._prepare_records()
            self.labels, kind = check_labels(
                self.job.get("runs-on"), ctx, self.twin.config["runner"]
            )
            self.record.labels, self.record.runner_name = self.labels, f"twin-{kind}-runner"
            self.image = {
                **image_env(self.home, self.twin.home / "cache", self.twin.config["runner"]["env"]),
                "RUNNER_ENVIRONMENT_KIND": kind,
            }
            self.image["GIT_CEILING_DIRECTORIES"] = str(self.twin.runs_dir)
            self.environment = environment_gate(self, ctx)
            group, holder = self._job_concurrency(ctx, holder)
            if group is not None:
                start_job(self)
                run_steps(self)
                outputs = job_outputs(self)
        except JobFailed as exc:
            self._annotate_error(str(exc))
            self.status = "failure"
        finally:
            self._finish(group, holder)
        result = "cancelled" if self.cancelled() and self.status != "failure" else self.status
        if self.timed_out:
            result = "cancelled"
        with store.lock:
            self.record.status, self.record.conclusion, self.record.completed_at = (
                "completed",
                result,
                now(),
            )
            self.record.outputs = outputs
            for step in self.record.steps:
                if step.status != "completed":  # never reached: set-up failed or cancelled
                    step.status, step.conclusion, step.outcome = "completed", "skipped", "skipped"
        store.update_check_run(
            check["id"], status="completed", conclusion="timed_out" if self.timed_out else result
        )
        store.notify()
        try:
            keep_going = truthy(render(self.job.get("continue-on-error", False), self.context()))
        except ExpressionError:
            keep_going = False
        return {"result": result, "outputs": outputs, "continue_on_error": keep_going}

    def _prepare_records(self) -> None:
        for number, step in enumerate(self.job["steps"], 1):
            name = step.get("name") or (
                f"Run {step['uses']}"
                if "uses" in step
                else f"Run {(str(step['run']).strip().splitlines() or [''])[0]}"
            )
            self.record.steps.append(StepRecord(number=number, name=str(name)))

    def _job_concurrency(self, ctx: Context, holder: Holder) -> tuple[str | None, Holder]:
        try:
            group, cancel, queue = concurrency_spec(self.job.get("concurrency"), ctx)
        except ExpressionError as exc:
            raise JobFailed(f"jobs.{self.key}.concurrency: {exc}") from None
        if group is None:
            return "", holder
        holder.on_pending = self._pending
        if not self.runner.groups.acquire(group, holder, cancel_in_progress=cancel, queue=queue):
            return None, holder
        return group, holder

    def _finish(self, group: str | None, holder: Holder) -> None:
        for token in self.tokens:
            self.twin.tokens.revoke(token)
        for pgid in self.pgids:
            kill_orphans(pgid)
        if group:
            self.runner.groups.release(group, holder)
        summary = "".join(self.summaries)
        if summary:
            self.record.summary = summary
            (self.folder / "summary.md").write_text(summary, encoding="utf-8")
        keep = self.twin.config["runner"]["keep_workspaces"]
        if not (keep or os.environ.get("TWIN_KEEP_WORKSPACES")):
            discard_in_background(
                [self.workspace, self.home, self.temp, self.tool_dir, self.file_commands],
                venv=self.workspace / ".venv",
                uv_cache=self.image.get("UV_CACHE_DIR"),
            )

    def _pending(self) -> None:
        with self.twin.store.lock:
            self.record.status = "pending"
        self.twin.store.notify()

    def _annotate_error(self, message: str) -> None:
        annotate_error(self, message)
