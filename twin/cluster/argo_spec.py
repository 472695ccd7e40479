"""A Workflow's effective spec, its parameters, templates and loop items, as Argo resolves them.

``workflowTemplateRef`` merges the WorkflowTemplate's spec under the Workflow's (the
Workflow's fields win; arguments merge by parameter name). A parameter without a value fails
with Argo's "spec.arguments.<name>.value is required"; one outside its ``enum`` fails too.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from twin.cluster.interfaces import Obj, ObjectStore
from twin.errors import TwinError

SUPPORTED_TYPES = ("container", "script", "dag", "steps", "suspend")


class SpecError(TwinError):
    """The workflow cannot run as written (Argo would reject it or error the workflow)."""


def merged_spec(store: ObjectStore, workflow: Obj) -> Obj:
    """The spec the workflow runs (with its WorkflowTemplate merged in)."""
    spec: Obj = copy.deepcopy(workflow.get("spec") or {})
    ref = spec.pop("workflowTemplateRef", None)
    if not ref:
        return spec
    namespace = workflow["metadata"].get("namespace", "")
    kind = "ClusterWorkflowTemplate" if ref.get("clusterScope") else "WorkflowTemplate"
    template = store.get(kind, "" if ref.get("clusterScope") else namespace, ref.get("name", ""))
    if template is None:
        raise SpecError(f'{kind.lower()}s.argoproj.io "{ref.get("name")}" not found')
    base: Obj = copy.deepcopy(template.get("spec") or {})
    params = {p["name"]: p for p in (base.get("arguments") or {}).get("parameters") or []}
    for param in (spec.get("arguments") or {}).get("parameters") or []:
        params[param["name"]] = {**params.get(param["name"], {}), **param}
    merged = {**base, **{k: v for k, v in spec.items() if k != "arguments"}}
    merged["arguments"] = {**(base.get("arguments") or {}), "parameters": list(params.values())}
    return merged


def workflow_parameters(spec: Obj) -> dict[str, str]:
    """``{name: value}`` of ``spec.arguments.parameters``.

    Raises:
        SpecError: A parameter without a value, or a value outside its enum.
    """
    values: dict[str, str] = {}
    for param in (spec.get("arguments") or {}).get("parameters") or []:
        name = param["name"]
        if param.get("value") is None:
            raise SpecError(f"spec.arguments.{name}.value is required")
        value = as_text(param["value"])
        enum = [as_text(e) for e in param.get("enum") or []]
        if enum and value not in enum:
            raise SpecError(f"spec.arguments.{name}.value {value!r} is not one of {enum}")
        values[name] = value
    return values


def as_text(value: Any) -> str:
    """A parameter value as Argo stores it (strings as they are, anything else as JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def template_type(template: Obj) -> str:
    """Which kind of template this is.

    Raises:
        SpecError: A type the twin does not run (resource, http, data, plugin, containerSet).
    """
    for kind in (
        "container",
        "script",
        "dag",
        "steps",
        "suspend",
        "resource",
        "http",
        "data",
        "plugin",
        "containerSet",
    ):
        if kind in template:
            if kind not in SUPPORTED_TYPES:
                name = template.get("name")
                raise SpecError(f"template {name}: {kind} templates are not supported by the twin")
            return kind
    raise SpecError(f"template {template.get('name')}: no container, script, dag or steps")


def find_template(
    store: ObjectStore, namespace: str, templates: dict[str, Obj], holder: Obj
) -> Obj:
    """The template a task/step names (``template`` or ``templateRef``).

    Raises:
        SpecError: It does not exist.
    """
    if "templateRef" in holder:
        ref = holder["templateRef"]
        kind = "ClusterWorkflowTemplate" if ref.get("clusterScope") else "WorkflowTemplate"
        owner = store.get(kind, "" if ref.get("clusterScope") else namespace, ref.get("name", ""))
        if owner is None:
            raise SpecError(f'{kind.lower()}s.argoproj.io "{ref.get("name")}" not found')
        found = {t["name"]: t for t in (owner.get("spec") or {}).get("templates") or []}
        if ref.get("template") not in found:
            raise SpecError(f"template {ref.get('template')} not found in {ref.get('name')}")
        return copy.deepcopy(found[ref["template"]])
    name = holder.get("template")
    if "inline" in holder:
        return copy.deepcopy(holder["inline"])
    if name not in templates:
        raise SpecError(f"template {name!r} not found")
    return copy.deepcopy(templates[str(name)])


def loop_items(holder: Obj) -> list[Any] | None:
    """The items of ``withItems`` / ``withParam`` / ``withSequence`` (None: no loop).

    Raises:
        SpecError: ``withParam`` that is not a JSON list.
    """
    if "withItems" in holder:
        return list(holder["withItems"])
    if "withParam" in holder:
        try:
            items = json.loads(holder["withParam"])
        except ValueError:
            raise SpecError(
                f"withParam value could not be parsed as a JSON list: {holder['withParam'][:80]}"
            ) from None
        if not isinstance(items, list):
            raise SpecError(f"withParam value is not a JSON list: {holder['withParam'][:80]}")
        return items
    if "withSequence" in holder:
        seq = holder["withSequence"]
        start = int(seq.get("start", 0))
        end = int(seq["end"]) if "end" in seq else start + int(seq.get("count", 0)) - 1
        step = 1 if end >= start else -1
        return [str(i) for i in range(start, end + step, step)]
    return None


def item_label(item: Any) -> str:
    """How Argo writes an item in a node name: ``task(0:label)``."""
    if isinstance(item, dict):
        return ",".join(f"{k}:{as_text(item[k])}" for k in sorted(item))
    return as_text(item)


def item_scope(item: Any) -> dict[str, str]:
    """``{{item}}`` and ``{{item.field}}`` for one loop item."""
    scope = {"item": as_text(item)}
    if isinstance(item, dict):
        scope.update({f"item.{k}": as_text(v) for k, v in item.items()})
    return scope


def aggregate(values: list[str]) -> str:
    """Argo's aggregated outputs of a loop: a JSON list; values embedded as JSON if all are."""
    try:
        parsed: list[Any] = [json.loads(v) for v in values]
    except ValueError:
        parsed = list(values)
    return json.dumps(parsed, separators=(",", ":"))
