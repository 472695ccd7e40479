"""A job's steps in order: ``if:``, env, timeouts, ``continue-on-error``, outcomes and outputs.

``steps.<id>.outcome`` is the result before ``continue-on-error``, ``conclusion`` after it. A
step's ``if:`` sees the job's status: ``success()`` while nothing failed, ``failure()`` after a
failed step, ``cancelled()`` once the run was cancelled or the job timed out. Every ``uses:``
is resolved before the first step, as the runner's "Set up job" does.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from twin.errors import TwinError
from twin.github.actions_table import ActionCall, ActionFailed, resolve
from twin.github.expr_values import ExpressionError, to_str, truthy
from twin.github.expressions import Context, condition, render, render_str
from twin.github.records import StepRecord, now
from twin.github.stepexec import (
    HOSTED_NICENESS,
    CommandFileError,
    LineSink,
    parse_command_file,
    run_process,
    script_suffix,
    shell_command,
)

if TYPE_CHECKING:
    from twin.github.jobrun import JobRun

AFTER_CANCEL_STEP_MINUTES = 5.0


def run_steps(job: JobRun) -> None:
    """Run every step of ``job`` (resolving its actions first)."""
    implementations = {}
    for step in job.job["steps"]:
        if "uses" in step:
            implementations[str(step["uses"])] = resolve(str(step["uses"]))
    for record, step in zip(job.record.steps, job.job["steps"], strict=True):
        _step(job, record, step, implementations)


def _job_status(job: JobRun) -> str:
    return "cancelled" if job.cancelled() else job.status


def _step(
    job: JobRun, record: StepRecord, step: dict[str, Any], implementations: dict[str, Any]
) -> None:
    ctx = job.context()
    ctx.values["job"]["status"] = _job_status(job)
    ctx.status = {
        "success": lambda: job.status == "success" and not job.cancelled(),
        "failure": lambda: job.status == "failure" and not job.cancelled(),
        "cancelled": job.cancelled,
        "always": lambda: True,
    }
    step_id = str(step.get("id") or f"__step_{record.number}")
    if job.runner.stopping.is_set():
        _close(job, record, step_id, "cancelled", False, {})
        return
    # GitHub refuses the secrets context in a step's if: ("Unrecognized named-value").
    visible = {name: value for name, value in ctx.values.items() if name != "secrets"}
    try:
        go = condition(
            step.get("if"), Context(values=visible, status=ctx.status, workspace=ctx.workspace)
        )
    except ExpressionError as exc:
        _close(
            job, record, step_id, "failure", False, {}, message=f"steps[{record.number}].if: {exc}"
        )
        return
    if not go:
        _close(job, record, step_id, "skipped", False, {})
        return
    try:
        record.name = render_str(step.get("name"), ctx) if step.get("name") else record.name
        step_env = {str(k): to_str(render(v, ctx)) for k, v in (step.get("env") or {}).items()}
        ctx.values["env"] = {**job.env, **step_env}
        keep_going = truthy(render(step.get("continue-on-error", False), ctx))
        step_minutes = render(step.get("timeout-minutes"), ctx)
    except ExpressionError as exc:
        _close(job, record, step_id, "failure", False, {}, message=f"steps[{record.number}]: {exc}")
        return
    was_cancelled = job.cancelled()
    start = time.monotonic()
    limit = float(step_minutes) * 60 if step_minutes not in (None, "") else None
    if was_cancelled:
        limit = limit or AFTER_CANCEL_STEP_MINUTES * 60
        deadline = start + limit
    else:
        deadline = min(job.deadline, start + limit) if limit else job.deadline
    sink, record.log = job.sink(record.number, record.name)
    with job.twin.store.lock:
        record.status, record.started_at = "in_progress", now()
    job.twin.store.notify()
    outputs: dict[str, str] = {}
    try:
        if "run" in step:
            outcome = _run(job, step, ctx, step_env, sink, deadline, was_cancelled, outputs)
        else:
            call = ActionCall(
                job=job, uses=str(step["uses"]), inputs={}, env=step_env, sink=sink, outputs=outputs
            )
            call.deadline, call.was_cancelled = deadline, was_cancelled
            call.inputs = {
                str(k): to_str(render(v, ctx)) for k, v in (step.get("with") or {}).items()
            }
            implementations[str(step["uses"])](call)
            outcome = "success"
    except (ActionFailed, CommandFileError, TwinError, ExpressionError) as exc:
        sink.line(f"##[error]{exc}")
        job.record.annotations.append({"level": "error", "message": f"{record.name}: {exc}"})
        outcome = "failure"
    except _Timeout as exc:
        outcome = exc.outcome
    _close(job, record, step_id, outcome, keep_going, outputs)


class _Timeout(Exception):
    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


def _defaults(job: JobRun) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for level in (job.workflow.doc.get("defaults"), job.job.get("defaults")):
        merged.update((level or {}).get("run") or {})
    return merged


def _run(
    job: JobRun,
    step: dict[str, Any],
    ctx: Any,
    step_env: dict[str, str],
    sink: LineSink,
    deadline: float,
    was_cancelled: bool,
    outputs: dict[str, str],
) -> str:
    defaults = _defaults(job)
    script = render_str(step["run"], ctx)
    shell = step.get("shell", defaults.get("shell"))
    shell = render_str(shell, ctx) if shell is not None else None
    folder = step.get("working-directory", defaults.get("working-directory"))
    cwd = job.workspace / render_str(folder, ctx) if folder else job.workspace
    if not cwd.is_dir():
        raise TwinError(f"working-directory '{folder}' does not exist in the workspace")
    files = _command_files(job)
    path = job.temp / f"{uuid.uuid4()}{script_suffix(shell)}"
    path.write_text(script if script.endswith("\n") else script + "\n", encoding="utf-8")
    env = job.process_env(step_env, files)
    argv = shell_command(shell, path, env["PATH"])
    sink.line(f"##[group]Run {script.strip().splitlines()[0] if script.strip() else ''}")
    sink.line(f"shell: {' '.join(argv[:-1])} {{0}}")
    sink.line("##[endgroup]")
    result = run_process(
        argv,
        env=env,
        cwd=cwd,
        sink=sink,
        deadline=deadline,
        cancelled=lambda: job.cancelled() and not was_cancelled,
        on_start=job.pgids.append,
        niceness=HOSTED_NICENESS
        if job.image.get("RUNNER_ENVIRONMENT_KIND") == "github-hosted"
        else 0,
    )
    job.record.annotations.extend(result.annotations)
    _apply_files(job, files, outputs)
    if result.timed_out:
        if deadline >= job.deadline and not was_cancelled:
            job.timed_out = True
            job.cancel.set()
            limit = _minutes(job.timeout_minutes)
            message = f"The job has exceeded the maximum execution time of {limit}"
            job.record.annotations.append({"level": "error", "message": message})
            sink.line(f"##[error]{message}")
            raise _Timeout("cancelled")
        sink.line("##[error]The action has timed out.")
        job.record.annotations.append({"level": "error", "message": "The action has timed out."})
        raise _Timeout("failure")
    if result.cancelled:
        sink.line("##[error]The operation was canceled.")
        raise _Timeout("cancelled")
    if result.exit_code != 0:
        message = f"Process completed with exit code {result.exit_code}."
        sink.line(f"##[error]{message}")
        job.record.annotations.append({"level": "error", "message": message})
        return "failure"
    return "success"


def _minutes(minutes: float) -> str:
    from twin.github.jobrun import duration_text

    return duration_text(minutes)


def _command_files(job: JobRun) -> dict[str, str]:
    folder = job.file_commands
    folder.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    files = {}
    for kind in ("env", "output", "path", "state", "summary"):
        path = folder / f"{kind}_{token}"
        path.touch()
        files[kind] = str(path)
    files["event"] = str(job.folder / "event.json")
    files["action"] = f"__run_{token[:6]}"
    return files


def _apply_files(job: JobRun, files: dict[str, str], outputs: dict[str, str]) -> None:
    from pathlib import Path

    for name, value in parse_command_file(Path(files["env"])).items():
        job.set_env(name, value)
    for line in Path(files["path"]).read_text(encoding="utf-8").splitlines():
        if line.strip():
            job.add_path(line.strip())
    outputs.update(parse_command_file(Path(files["output"])))
    summary = Path(files["summary"]).read_text(encoding="utf-8")
    if summary:
        job.summaries.append(summary if summary.endswith("\n") else summary + "\n")


def _close(
    job: JobRun,
    record: StepRecord,
    step_id: str,
    outcome: str,
    keep_going: bool,
    outputs: dict[str, str],
    message: str = "",
) -> None:
    conclusion = "success" if outcome == "failure" and keep_going else outcome
    if message:
        job.record.annotations.append({"level": "error", "message": message})
    if conclusion == "failure":
        job.status = "failure"
    with job.twin.store.lock:
        record.status, record.outcome, record.conclusion = "completed", outcome, conclusion
        record.completed_at = now()
        if record.started_at is None and outcome != "skipped":
            record.started_at = record.completed_at
    job.steps_ctx[step_id] = {
        "outputs": dict(outputs),
        "outcome": outcome,
        "conclusion": conclusion,
    }
    job.twin.store.notify()
