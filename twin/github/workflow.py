"""Workflow files: YAML as GitHub reads it, the keys the twin runs, and a check of the shape.

GitHub parses workflows as YAML 1.2: ``on``, ``yes`` and ``off`` are strings, only
``true``/``false`` are booleans. A workflow that uses a key the twin does not run (``matrix``,
``container``, ``services``, reusable workflows) is refused with a message naming the key,
never run half-way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

WORKFLOW_KEYS = {"name", "run-name", "on", "permissions", "env", "defaults", "concurrency", "jobs"}
JOB_KEYS = {
    "name",
    "permissions",
    "needs",
    "if",
    "runs-on",
    "environment",
    "concurrency",
    "outputs",
    "env",
    "defaults",
    "steps",
    "timeout-minutes",
    "continue-on-error",
}
UNSUPPORTED_JOB_KEYS = {"strategy", "container", "services", "uses", "with", "secrets"}
STEP_KEYS = {
    "id",
    "if",
    "name",
    "uses",
    "run",
    "shell",
    "with",
    "env",
    "continue-on-error",
    "timeout-minutes",
    "working-directory",
}
EVENTS = {
    "push",
    "pull_request",
    "schedule",
    "workflow_dispatch",
    "repository_dispatch",
    "pull_request_target",
    "workflow_run",
    "release",
    "issue_comment",
    "create",
    "delete",
    "merge_group",
    "workflow_call",
}


class WorkflowError(ValueError):
    """A workflow file GitHub would refuse (or the twin cannot run); names file and key."""


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false (``on:`` stays a string key)."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def load_yaml(text: str) -> Any:
    """Parse YAML the way GitHub does for workflow files."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


@dataclass
class Workflow:
    """One parsed workflow file."""

    path: str  # .github/workflows/<file>
    doc: dict[str, Any]
    triggers: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``name:`` or the path, as GitHub shows it."""
        return str(self.doc.get("name") or self.path)

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        """Jobs by id, in file order."""
        return dict(self.doc.get("jobs") or {})


def _triggers(on: Any, path: str) -> dict[str, dict[str, Any]]:
    if isinstance(on, str):
        on = [on]
    if isinstance(on, list):
        on = dict.fromkeys(on)
    if not isinstance(on, dict) or not on:
        raise WorkflowError(f"{path}: 'on' must name at least one event")
    out: dict[str, dict[str, Any]] = {}
    for event, spec in on.items():
        if event not in EVENTS:
            raise WorkflowError(f"{path}: on.{event} is not an event the twin knows")
        if event == "schedule":
            if not isinstance(spec, list) or not all(isinstance(s, dict) for s in spec):
                raise WorkflowError(f"{path}: on.schedule must be a list of {{cron: ...}}")
            out[event] = {"crons": [str(s.get("cron", "")) for s in spec]}
            continue
        if spec is not None and not isinstance(spec, dict):
            raise WorkflowError(f"{path}: on.{event} must be a mapping")
        out[event] = dict(spec or {})
        for a, b in (
            ("branches", "branches-ignore"),
            ("paths", "paths-ignore"),
            ("tags", "tags-ignore"),
        ):
            if a in out[event] and b in out[event]:
                raise WorkflowError(f"{path}: on.{event} cannot use both '{a}' and '{b}'")
    return out


def _check_job(path: str, job_id: str, job: Any, job_ids: set[str]) -> None:
    where = f"{path}: jobs.{job_id}"
    if not isinstance(job, dict):
        raise WorkflowError(f"{where} must be a mapping")
    for key in job:
        if key in UNSUPPORTED_JOB_KEYS:
            raise WorkflowError(f"{where}.{key} is not supported by the twin runner")
        if key not in JOB_KEYS:
            raise WorkflowError(f"{where}: unexpected key '{key}'")
    if "runs-on" not in job:
        raise WorkflowError(f"{where}: 'runs-on' is required")
    steps = job.get("steps")
    if not isinstance(steps, list) or not steps:
        raise WorkflowError(f"{where}: 'steps' must be a non-empty list")
    for number, step in enumerate(steps, 1):
        if not isinstance(step, dict):
            raise WorkflowError(f"{where}.steps[{number}] must be a mapping")
        unknown = set(step) - STEP_KEYS
        if unknown:
            raise WorkflowError(f"{where}.steps[{number}]: unexpected key '{sorted(unknown)[0]}'")
        if ("run" in step) == ("uses" in step):
            raise WorkflowError(f"{where}.steps[{number}]: exactly one of 'run' and 'uses'")
    for need in needs_of(job):
        if need not in job_ids:
            raise WorkflowError(f"{where}: needs unknown job '{need}'")


def needs_of(job: dict[str, Any]) -> list[str]:
    """A job's ``needs`` as a list."""
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else [str(n) for n in needs]


def _check_cycles(path: str, jobs: dict[str, Any]) -> None:
    done: set[str] = set()

    def visit(job_id: str, trail: tuple[str, ...]) -> None:
        if job_id in trail:
            raise WorkflowError(f"{path}: jobs form a cycle: {' -> '.join((*trail, job_id))}")
        if job_id in done:
            return
        for need in needs_of(jobs[job_id]):
            visit(need, (*trail, job_id))
        done.add(job_id)

    for job_id in jobs:
        visit(job_id, ())


def parse_workflow(path: str, text: str) -> Workflow:
    """Parse and check one workflow file.

    Raises:
        WorkflowError: Naming the file and the first offending key.
    """
    try:
        doc = load_yaml(text)
    except yaml.YAMLError as exc:
        raise WorkflowError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise WorkflowError(f"{path}: a workflow must be a mapping")
    for key in doc:
        if key not in WORKFLOW_KEYS:
            raise WorkflowError(f"{path}: unexpected top-level key '{key}'")
    if "on" not in doc:
        raise WorkflowError(f"{path}: 'on' is required")
    jobs = doc.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        raise WorkflowError(f"{path}: 'jobs' must be a non-empty mapping")
    for job_id, job in jobs.items():
        _check_job(path, str(job_id), job, {str(j) for j in jobs})
    _check_cycles(path, jobs)
    return Workflow(path=path, doc=doc, triggers=_triggers(doc["on"], path))
