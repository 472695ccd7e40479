"""Which workflows an event starts: ``on:`` with GitHub's filter rules, and why not.

Rules (docs "Events that trigger workflows" and "Workflow syntax"): a push filter that names
only branches ignores tag pushes and the reverse; ``paths`` run when at least one changed file
matches, ``paths-ignore`` skip only when every changed file is ignored, path filters are not
evaluated for tag pushes; ``pull_request`` defaults to types opened, synchronize, reopened and
filters branches on the base branch; ``repository_dispatch`` filters on ``types``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twin.github.globs import filter_match
from twin.github.workflow import Workflow

PR_DEFAULT_TYPES = ("opened", "synchronize", "reopened")


@dataclass
class Event:
    """An event as the runner sees it."""

    name: str  # push, pull_request, schedule, workflow_dispatch, repository_dispatch
    ref: str  # refs/heads/main, refs/pull/3/merge, refs/tags/v1
    sha: str  # the commit the workflow runs on (GITHUB_SHA)
    payload: dict[str, Any]
    actor: str
    action: str = ""  # pull_request action, repository_dispatch event_type
    base_ref: str = ""  # pull_request: the base branch name
    head_ref: str = ""  # pull_request: the head branch name
    head_sha: str = ""  # the commit checks are reported on (PR head; else sha)
    cron: str = ""  # schedule: which cron fired ("" = any)
    workflow: str = ""  # workflow_dispatch (and a twin-fired schedule): the path it targets
    changed_files: Callable[[], list[str]] | None = None
    pr_number: int | None = None
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def ref_name(self) -> str:
        """``main`` for ``refs/heads/main``, ``3/merge`` for a pull request ref."""
        for prefix in ("refs/heads/", "refs/tags/", "refs/pull/"):
            if self.ref.startswith(prefix):
                return self.ref[len(prefix) :]
        return self.ref


def _ref_filter(spec: dict[str, Any], kind: str, name: str) -> str | None:
    """None when the ref passes; else why not."""
    other = "tags" if kind == "branches" else "branches"
    names = spec.get(kind)
    ignore = spec.get(f"{kind}-ignore")
    if names is None and ignore is None:
        if spec.get(other) is not None or spec.get(f"{other}-ignore") is not None:
            return f"the filter names only {other}"
        return None
    if names is not None and not filter_match([str(p) for p in names], name):
        return f"{kind[:-1] if kind == 'tags' else 'branch'} '{name}' is not in {kind}"
    if ignore is not None and filter_match([str(p) for p in ignore], name):
        return f"'{name}' is in {kind}-ignore"
    return None


def _path_filter(spec: dict[str, Any], event: Event) -> str | None:
    paths, ignore = spec.get("paths"), spec.get("paths-ignore")
    if paths is None and ignore is None:
        return None
    files = event.changed_files() if event.changed_files else []
    if paths is not None:
        patterns = [str(p) for p in paths]
        if not any(filter_match(patterns, f) for f in files):
            return f"no changed file matches paths {patterns}"
    if ignore is not None:
        patterns = [str(p) for p in ignore]
        if files and all(filter_match(patterns, f) for f in files):
            return f"every changed file matches paths-ignore {patterns}"
    return None


def _push(spec: dict[str, Any], event: Event) -> str | None:
    if event.ref.startswith("refs/tags/"):
        return _ref_filter(spec, "tags", event.ref_name)
    return _ref_filter(spec, "branches", event.ref_name) or _path_filter(spec, event)


def _pull_request(spec: dict[str, Any], event: Event) -> str | None:
    types = spec.get("types") or list(PR_DEFAULT_TYPES)
    if isinstance(types, str):
        types = [types]
    if event.action not in types:
        return f"pull_request type '{event.action}' is not in types {list(types)}"
    return _ref_filter(spec, "branches", event.base_ref) or _path_filter(spec, event)


def why_not(workflow: Workflow, event: Event) -> str | None:
    """None when ``event`` starts ``workflow``; otherwise the reason, in one phrase."""
    spec = workflow.triggers.get(event.name)
    if spec is None:
        return f"no 'on.{event.name}' trigger"
    if event.name == "push":
        return _push(spec, event)
    if event.name == "pull_request":
        return _pull_request(spec, event)
    if event.name == "schedule":
        if event.workflow and event.workflow != workflow.path:
            return f"the schedule was fired for {event.workflow} only"
        if event.cron and event.cron not in spec["crons"]:
            return f"no schedule with cron '{event.cron}'"
        return None
    if event.name == "workflow_dispatch":
        return None if event.workflow == workflow.path else "dispatched for another workflow"
    if event.name == "repository_dispatch":
        types = spec.get("types")
        if types is not None and event.action not in [str(t) for t in types]:
            return f"event_type '{event.action}' is not in types {list(types)}"
        return None
    return f"the twin does not deliver '{event.name}' events"


def dispatch_inputs(workflow: Workflow, given: dict[str, Any]) -> dict[str, Any]:
    """``workflow_dispatch`` inputs with defaults and types applied (GitHub's 422 rules).

    Raises:
        ValueError: An unexpected input, a missing required one, or a value of the wrong type.
    """
    declared = dict((workflow.triggers.get("workflow_dispatch") or {}).get("inputs") or {})
    unexpected = sorted(set(given) - set(declared))
    if unexpected:
        raise ValueError(f"Unexpected inputs provided: {unexpected}")
    out: dict[str, Any] = {}
    for name, spec in declared.items():
        spec = spec or {}
        kind = str(spec.get("type", "string"))
        if name in given:
            value: Any = given[name]
        elif "default" in spec:
            value = spec["default"]
        elif spec.get("required"):
            raise ValueError(f"Required input '{name}' not provided")
        else:
            value = False if kind == "boolean" else ""
        out[name] = _typed_input(name, kind, spec, value)
    return out


def _typed_input(name: str, kind: str, spec: dict[str, Any], value: Any) -> Any:
    if kind == "boolean":
        text = str(value).lower()
        if text not in ("true", "false"):
            raise ValueError(f"Provided value '{value}' for input '{name}' is not a boolean")
        return text == "true"
    if kind == "number":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"Provided value '{value}' for input '{name}' is not a number"
            ) from None
        return int(number) if number == int(number) else number
    if kind == "choice":
        options = [str(o) for o in spec.get("options") or []]
        if str(value) not in options and not (value == "" and not spec.get("required")):
            raise ValueError(
                f"Provided value '{value}' for input '{name}' not in the list of allowed values"
            )
    return "" if value is None else str(value)
