"""Before a job's first step: which runner takes it, and its environment's protection rules.

Runners: GitHub-hosted ``ubuntu-*`` labels, the self-hosted label sets and the runner scale sets
registered in the twin config (``runner.self_hosted``, ``runner.scale_sets``) all run on this
machine; a job whose labels no runner has fails at once (github.com would queue it for 24 h).
Environments: a branch outside ``deployment_branches`` is refused as GitHub refuses it; required
reviewers are approved by the twin's person, and the approval is recorded on the job.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from twin.github.expr_values import ExpressionError, to_str
from twin.github.expressions import Context, render
from twin.github.globs import filter_match
from twin.github.records import now
from twin.github.tokens import job_permissions

if TYPE_CHECKING:
    from twin.github.jobrun import JobRun

BOT = "github-actions[bot]"
DEFAULT_TIMEOUT_MINUTES = 360.0
GITHUB_HOSTED = re.compile(r"^ubuntu-(latest|\d\d\.\d\d)(-arm)?$", re.IGNORECASE)


class JobFailed(Exception):
    """The job fails before (or outside) its steps; the message is its annotation."""


def runs_on_labels(value: Any, ctx: Context) -> list[str]:
    """The label list of a ``runs-on`` value (string, list, ``{group, labels}``, expressions)."""
    try:
        value = render(value, ctx)
        if isinstance(value, dict):
            value = value.get("labels") or []
        labels = [value] if isinstance(value, str) else [render(v, ctx) for v in value or []]
    except ExpressionError as exc:
        raise JobFailed(f"runs-on: {exc}") from None
    return [to_str(label) for label in labels if to_str(label)]


def check_labels(value: Any, ctx: Context, runners: dict[str, Any]) -> tuple[list[str], str]:
    """``(labels, "github-hosted"|"self-hosted")`` of a job, or why no runner takes it.

    ``runners`` is the twin config's ``runner``: ``self_hosted`` label sets (a job's labels
    must all be in one set) and ``scale_sets`` (actions-runner-controller: ``runs-on`` is
    exactly the scale set's name).
    """
    labels = runs_on_labels(value, ctx)
    if not labels:
        raise JobFailed("runs-on: no labels")
    wanted = {label.casefold() for label in labels}
    if len(labels) == 1 and labels[0] in [str(name) for name in runners.get("scale_sets") or []]:
        return labels, "self-hosted"
    for runner in runners.get("self_hosted") or []:
        if "self-hosted" in wanted and wanted <= {str(label).casefold() for label in runner}:
            return labels, "self-hosted"
    if len(labels) == 1 and GITHUB_HOSTED.match(labels[0]):
        return labels, "github-hosted"
    raise JobFailed(
        f"No runner matches labels {labels}: the twin has GitHub-hosted ubuntu-* runners, "
        f"self-hosted label sets {runners.get('self_hosted')} and runner scale sets "
        f"{runners.get('scale_sets')} (twin config 'runner')"
    )


def environment_gate(job: JobRun, ctx: Context) -> str | None:
    """The job's environment name after its protection rules passed (None without one)."""
    spec = job.job.get("environment")
    if spec is None:
        return None
    try:
        name = to_str(render(spec.get("name") if isinstance(spec, dict) else spec, ctx))
    except ExpressionError as exc:
        raise JobFailed(f"environment: {exc}") from None
    if not name:
        return None
    settings = job.twin.environment(name)
    branches = settings.get("deployment_branches")
    ref = job.event.ref
    if branches is not None:
        allowed = ref.startswith("refs/heads/") and filter_match(
            [str(b) for b in branches], ref.removeprefix("refs/heads/")
        )
        if not allowed:
            raise JobFailed(
                f'Branch "{job.event.ref_name}" is not allowed to deploy to {name} '
                "due to environment protection rules."
            )
    reviewers = [str(r) for r in settings.get("reviewers") or []]
    job.record.environment = name
    if reviewers:
        with job.twin.store.lock:
            job.record.status = "waiting"
        job.twin.store.notify()
        person = job.twin.config["person"]["login"]
        approval = {
            "environment": name,
            "state": "approved",
            "user": person,
            "required_reviewers": reviewers,
            "comment": "approved by the twin's person (required reviewers)",
            "at": now(),
        }
        with job.twin.store.lock:
            job.record.approvals.append(approval)
    return name


def start_job(job: JobRun) -> None:
    """The job's token, secrets, variables, folders, timeout and env, then in progress."""
    config = job.twin.config
    try:
        permissions = job_permissions(
            job.workflow.doc.get("permissions"),
            job.job.get("permissions"),
            config["actions"]["default_workflow_permissions"],
        )
    except ValueError as exc:
        raise JobFailed(f"Invalid workflow file: jobs.{job.key}: {exc}") from None
    token = job.twin.tokens.mint("workflow", BOT, permissions, run_id=job.run.id)
    job.token_value = token.value
    job.revoke_at_end(token.value)
    env_settings = job.twin.environment(job.environment) if job.environment else {}
    job.secrets = {
        **config["secrets"],
        **(env_settings.get("secrets") or {}),
        "GITHUB_TOKEN": token.value,
    }
    job.variables = {**config["variables"], **(env_settings.get("variables") or {})}
    for value in (str(v) for v in job.secrets.values()):
        # A multi-line secret (a PEM key) is masked as a whole and line by line, as GitHub does.
        job.masks.extend(part.strip() for part in [value, *value.splitlines()] if part.strip())
    for folder in (job.workspace, job.temp, job.tool_dir, job.logs):
        folder.mkdir(parents=True, exist_ok=True)
    event_path = job.folder / "event.json"
    event_path.write_text(json.dumps(job.event.payload, indent=2), encoding="utf-8")
    job.github.update(
        job=job.key,
        token=token.value,
        workspace=str(job.workspace),
        event_path=str(event_path),
    )
    ctx = job.context()
    minutes = render(job.job.get("timeout-minutes", DEFAULT_TIMEOUT_MINUTES), ctx)
    try:
        job.timeout_minutes = float(minutes)
    except (TypeError, ValueError):
        raise JobFailed(f"jobs.{job.key}.timeout-minutes: not a number: {minutes!r}") from None
    job.deadline = time.monotonic() + job.timeout_minutes * 60
    for level in (job.workflow.doc.get("env") or {}, job.job.get("env") or {}):
        for name, value in level.items():
            try:
                job.env[str(name)] = to_str(render(value, job.context()))
            except ExpressionError as exc:
                raise JobFailed(f"env.{name}: {exc}") from None
    with job.twin.store.lock:
        job.record.status, job.record.started_at = "in_progress", now()
    job.twin.store.update_check_run(job.record.check_run_id or 0, status="in_progress")
    job.twin.store.notify()


def job_outputs(job: JobRun) -> dict[str, str]:
    """``jobs.<id>.outputs`` evaluated after the steps (values holding a secret are skipped)."""
    out = {}
    for name, value in (job.job.get("outputs") or {}).items():
        try:
            text = to_str(render(value, job.context()))
        except ExpressionError as exc:
            annotate_error(job, f"jobs.{job.key}.outputs.{name}: {exc}")
            continue
        if any(secret and secret in text for secret in job.masks):
            job.record.annotations.append(
                {
                    "level": "warning",
                    "message": f"Skip output '{name}' since it may contain secret.",
                }
            )
            continue
        out[str(name)] = text
    return out


def annotate_error(job: JobRun, message: str) -> None:
    """An error annotation on the job."""
    with job.twin.store.lock:
        job.record.annotations.append({"level": "error", "message": message})
    job.twin.store.notify()
