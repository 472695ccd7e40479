"""What the GitHub workflows need from a repository, read from the workflows themselves.

``pipelines doctor`` checks these against GitHub (every secret and variable a job reads, in the
scope where the job can see it) and AWS (a role for every environment whose jobs assume one);
``tests/terraform`` checks the Terraform identities against the same list. Nothing here is a
hand-kept list: a new ``${{ vars.X }}`` in a workflow is a new item for the doctor.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipelines.errors import PipelineError

EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
REFERENCE = re.compile(r"\b(secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)")
BUILT_IN_SECRETS = {"GITHUB_TOKEN"}
AWS_ACTION = "aws-actions/configure-aws-credentials"


@dataclass(frozen=True)
class Need:
    """One secret or variable a job reads.

    Attributes:
        kind: ``secret`` or ``variable``.
        name: Its name.
        environment: The job's GitHub environment (None: repository or organisation scope only).
        optional: Every use has a fallback (``vars.X || 'default'``).
    """

    kind: str
    name: str
    environment: str | None
    optional: bool


@dataclass
class JobInfo:
    """What one job of one workflow declares."""

    workflow: str
    job: str
    environments: list[str] = field(default_factory=list)
    runs_on: list[str] = field(default_factory=list)
    role_variables: list[str] = field(default_factory=list)
    needs: list[Need] = field(default_factory=list)


def load_workflow(path: Path) -> dict[str, Any]:
    """A workflow file, with YAML 1.1's ``on: true`` key put back as ``on``.

    Raises:
        PipelineError: Not YAML or not a mapping (naming the file).
    """
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PipelineError(f"{path}: not a readable workflow ({exc})") from None
    if not isinstance(doc, dict):
        raise PipelineError(f"{path}: expected a mapping")
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def _choices(doc: dict[str, Any], name: str) -> list[str]:
    triggers = doc.get("on") or {}
    dispatch = (triggers.get("workflow_dispatch") or {}) if isinstance(triggers, dict) else {}
    spec = (dispatch.get("inputs") or {}).get(name) or {}
    return [str(o) for o in spec.get("options") or []]


def expand_environment(doc: dict[str, Any], value: Any) -> list[str]:
    """Every environment name a job's ``environment:`` can take.

    A literal is itself; ``promote-${{ inputs.environment }}`` expands over the choice input's
    options. Any other expression cannot be listed and is an error (a doctor that silently
    skips a job would pass a repository that cannot run it).

    Raises:
        PipelineError: An expression other than a choice input.
    """
    text = str(value.get("name") if isinstance(value, dict) else value)
    found = EXPRESSION.search(text)
    if not found:
        return [text]
    ref = re.fullmatch(r"\s*inputs\.([A-Za-z0-9_-]+)\s*", found.group(1))
    options = _choices(doc, ref.group(1)) if ref else []
    if not options:
        raise PipelineError(
            f"environment {text!r}: only a workflow_dispatch choice input can be expanded"
        )
    return [text[: found.start()] + o + text[found.end() :] for o in options]


def _strings(node: Any) -> Iterable[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def references(node: Any) -> dict[tuple[str, str], bool]:
    """``(kind, name) -> optional`` for every ``secrets.X``/``vars.X`` in expressions of ``node``.

    A reference is optional when every one of its uses is followed by ``||`` (a fallback).
    """
    out: dict[tuple[str, str], bool] = {}
    for text in _strings(node):
        for expression in EXPRESSION.findall(text):
            for match in REFERENCE.finditer(expression):
                kind = "secret" if match.group(1) == "secrets" else "variable"
                name = match.group(2)
                if kind == "secret" and name in BUILT_IN_SECRETS:
                    continue
                has_default = expression[match.end() :].lstrip().startswith("||")
                out[(kind, name)] = out.get((kind, name), True) and has_default
    return out


def _role_variables(job: dict[str, Any]) -> list[str]:
    found = []
    for step in job.get("steps") or []:
        if str(step.get("uses", "")).split("@")[0] != AWS_ACTION:
            continue
        role = str((step.get("with") or {}).get("role-to-assume", ""))
        names = [m.group(2) for m in REFERENCE.finditer(role) if m.group(1) == "vars"]
        found.append(names[0] if names else role)
    return found


def read_jobs(folder: Path) -> list[JobInfo]:
    """Every job of every workflow in ``folder`` with its environments, runner and needs."""
    jobs: list[JobInfo] = []
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        doc = load_workflow(path)
        shared = references({k: v for k, v in doc.items() if k in ("env", "run-name")})
        for job_id, job in (doc.get("jobs") or {}).items():
            if not isinstance(job, dict):
                continue
            envs = expand_environment(doc, job["environment"]) if "environment" in job else []
            runs_on = job.get("runs-on", [])
            info = JobInfo(
                path.name,
                str(job_id),
                envs,
                [str(r) for r in runs_on] if isinstance(runs_on, list) else [str(runs_on)],
                _role_variables(job),
            )
            refs = {**shared}
            for key, optional in references(job).items():
                refs[key] = refs.get(key, True) and optional
            for (kind, name), optional in sorted(refs.items()):
                scopes: list[str | None] = list(envs) or [None]
                for env in scopes:
                    info.needs.append(Need(kind, name, env, optional))
            jobs.append(info)
    return jobs


def role_environments(jobs: Iterable[JobInfo]) -> dict[str, list[str]]:
    """Environment -> ``workflow:job`` list, for every job that assumes an AWS role.

    Raises:
        PipelineError: A job assumes a role outside any environment (its role could not be
            scoped to one ``environment:<name>`` subject).
    """
    out: dict[str, list[str]] = {}
    for job in jobs:
        if not job.role_variables:
            continue
        if not job.environments:
            raise PipelineError(
                f"{job.workflow}: job {job.job} assumes an AWS role without an environment:"
            )
        for env in job.environments:
            out.setdefault(env, []).append(f"{job.workflow}:{job.job}")
    return out
