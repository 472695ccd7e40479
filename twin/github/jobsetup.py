"""Before a job's first step: which runner takes it, and its environment's protection rules.

Runners: GitHub-hosted ``ubuntu-*`` labels and the self-hosted label sets registered in the twin
config (``runner.self_hosted``) both run on this machine; a job whose labels no runner has fails
at once (on github.com it would wait for a runner for 24 hours). Environments: a branch outside
``deployment_branches`` is refused as GitHub refuses it; required reviewers are approved by the
twin's person, and the approval is recorded on the job.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from twin.github.expr_values import ExpressionError, to_str
from twin.github.expressions import Context, render
from twin.github.globs import filter_match
from twin.github.records import now

if TYPE_CHECKING:
    from twin.github.jobrun import JobRun

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


def check_labels(value: Any, ctx: Context, self_hosted: list[list[str]]) -> tuple[list[str], str]:
    """``(labels, "github-hosted"|"self-hosted")`` of a job, or why no runner takes it."""
    labels = runs_on_labels(value, ctx)
    if not labels:
        raise JobFailed("runs-on: no labels")
    wanted = {label.casefold() for label in labels}
    if "self-hosted" in wanted:
        for runner in self_hosted:
            if wanted <= {str(label).casefold() for label in runner}:
                return labels, "self-hosted"
        raise JobFailed(
            f"No runner matches labels {labels}: the twin's self-hosted runners have {self_hosted} (twin config runner.self_hosted)"
        )
    if len(labels) == 1 and GITHUB_HOSTED.match(labels[0]):
        return labels, "github-hosted"
    raise JobFailed(f"No runner matches labels {labels}: the twin runs GitHub-hosted ubuntu-* and registered self-hosted sets")


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
        allowed = ref.startswith("refs/heads/") and filter_match([str(b) for b in branches], ref.removeprefix("refs/heads/"))
        if not allowed:
            raise JobFailed(f'Branch "{job.event.ref_name}" is not allowed to deploy to {name} due to environment protection rules.')
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
