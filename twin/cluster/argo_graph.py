"""Steps templates, and what DAGs and steps share: ``when``, loops, parallelism, daemons.

Steps: groups in order, the steps of a group in parallel; a failed step fails its group and
the template (``continueOn`` honoured). Loops (``withItems``/``withParam``/``withSequence``)
run each item as a node ``name(i:label)``, under a TaskGroup in a DAG; the template's
``parallelism`` bounds how many tasks/steps/items run at once. Daemons started in a DAG or
steps template are deleted when it ends (their nodes succeed).
"""

from __future__ import annotations

import contextlib
import json
import threading
from typing import TYPE_CHECKING, Any

from twin.cluster.argo_expr import (
    ExprError,
    evaluate_when,
    substitute_all,
)
from twin.cluster.argo_nodes import FAILED
from twin.cluster.argo_spec import SpecError, aggregate, as_text, item_label, item_scope, loop_items
from twin.cluster.interfaces import Obj

if TYPE_CHECKING:
    from twin.cluster.argo_run import WorkflowRun

LOOP_KEYS = ("withItems", "withParam", "withSequence")


def end_daemons(run: WorkflowRun, scope: str) -> None:
    """Delete the daemon pods started in scope node ``scope``; their nodes end."""
    for nid, pod in run.daemons.pop(scope, []):
        failed = pod.phase == "Failed"
        run.pods.delete(pod, 5.0)
        run.tree.update(
            nid, phase="Failed" if failed else "Succeeded", message=pod.message if failed else ""
        )


def slots_for(template: Obj) -> Any:
    """A semaphore bounding the running children by the template's ``parallelism`` (if any)."""
    limit = template.get("parallelism")
    if limit is None:
        return contextlib.nullcontext()
    if not str(limit).isdigit():
        raise SpecError(
            f"template {template.get('name')}: parallelism {limit!r} is not an integer "
            "(Argo does not substitute it)"
        )
    return threading.BoundedSemaphore(int(limit)) if int(limit) else contextlib.nullcontext()


def publish_outputs(scope: dict[str, str], prefix: str, node: Obj) -> None:
    """Put a finished task/step's status and outputs in the scope (``tasks.X.*``)."""
    outputs = node.get("outputs") or {}
    scope[f"{prefix}.status"] = node["phase"]
    scope[f"{prefix}.id"] = node["id"]
    scope[f"{prefix}.ip"] = node.get("podIP", "")
    scope[f"{prefix}.startedAt"] = node.get("startedAt", "")
    scope[f"{prefix}.finishedAt"] = node.get("finishedAt", "")
    scope[f"{prefix}.exitCode"] = outputs.get("exitCode", "")
    scope[f"{prefix}.outputs.result"] = outputs.get("result", "")
    for param in outputs.get("parameters") or []:
        scope[f"{prefix}.outputs.parameters.{param['name']}"] = param["value"]


def publish_aggregate(
    run: WorkflowRun, scope: dict[str, str], prefix: str, children: list[str]
) -> None:
    """Put a loop's aggregated outputs in the scope (JSON lists, as Argo aggregates)."""
    nodes = [run.tree.get(c) for c in children]
    done = [n for n in nodes if n["phase"] == "Succeeded"]
    results = [n["outputs"]["result"] for n in done if "result" in (n.get("outputs") or {})]
    scope[f"{prefix}.outputs.result"] = aggregate(results)
    params = [
        {p["name"]: p["value"] for p in (n.get("outputs") or {}).get("parameters") or []}
        for n in done
    ]
    scope[f"{prefix}.outputs.parameters"] = json.dumps([p for p in params if p])
    for name in sorted({k for p in params for k in p}):
        scope[f"{prefix}.outputs.parameters.{name}"] = aggregate(
            [p[name] for p in params if name in p]
        )


def _run_holder(
    run: WorkflowRun,
    holder: Obj,
    scope: dict[str, str],
    extra: dict[str, str],
    node_name: str,
    display: str,
    parent: str,
    boundary: str,
    slots: Any,
) -> str:
    """Substitute, check ``when``, then run one task/step (or one loop item)."""
    try:
        resolved = substitute_all(
            {k: v for k, v in holder.items() if k not in LOOP_KEYS}, {**scope, **extra}
        )
        when = resolved.get("when")
        if when and not evaluate_when(str(when)):
            return run.tree.add(
                node_name,
                display,
                "Skipped",
                str(resolved.get("template", "")),
                parent,
                boundary,
                phase="Skipped",
                message=f"when '{when}' evaluated false",
            )
    except ExprError as exc:
        nid = run.tree.add(
            node_name, display, "Skipped", str(holder.get("template", "")), parent, boundary
        )
        run.tree.update(nid, phase="Error", message=str(exc))
        return nid
    args = {
        p["name"]: as_text(p.get("value", ""))
        for p in (resolved.get("arguments") or {}).get("parameters") or []
    }
    with slots:
        if run.cancelled():
            nid = run.tree.add(
                node_name, display, "Skipped", str(resolved.get("template", "")), parent, boundary
            )
            run.tree.update(nid, phase="Failed", message=run.cancel_message())
            return nid
        return run.execute(resolved, node_name, display, parent, boundary, args)


def run_looped(
    run: WorkflowRun,
    holder: Obj,
    scope: dict[str, str],
    node_name: str,
    display: str,
    parent: str,
    boundary: str,
    slots: Any,
    group_type: str | None,
) -> tuple[str, list[str]]:
    """Run a task/step and its loop items; returns (node id for the task, item node ids)."""
    try:
        looped = {k: v for k, v in holder.items() if k in LOOP_KEYS}
        items = loop_items(substitute_all(looped, scope)) if looped else None
    except (SpecError, ExprError) as exc:
        nid = run.tree.add(
            node_name, display, "Skipped", str(holder.get("template", "")), parent, boundary
        )
        run.tree.update(nid, phase="Error", message=str(exc))
        return nid, []
    if items is None:
        return _run_holder(run, holder, scope, {}, node_name, display, parent, boundary, slots), []
    group = parent
    if group_type is not None:
        group = run.tree.add(
            node_name, display, group_type, str(holder.get("template", "")), parent, boundary
        )
    ids: list[str | None] = [None] * len(items)

    def one(index: int, item: Any) -> None:
        label = f"({index}:{item_label(item)})"
        ids[index] = _run_holder(
            run,
            holder,
            scope,
            item_scope(item),
            f"{node_name}{label}",
            f"{display}{label}",
            group,
            boundary,
            slots,
        )

    threads = [
        threading.Thread(target=one, args=(i, it), daemon=True) for i, it in enumerate(items)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    children = [i for i in ids if i is not None]
    phases = [run.tree.get(c)["phase"] for c in children]
    failed = next((p for p in phases if p in FAILED), None)
    if group_type is not None:
        run.tree.update(group, phase=failed or "Succeeded")
    return group, children


def run_steps(
    run: WorkflowRun, template: Obj, tscope: dict[str, str], steps_node: str, steps_name: str
) -> None:
    """Run a steps template as node ``steps_node`` (see module doc)."""
    scope, slots = dict(tscope), slots_for(template)
    for index, group in enumerate(template["steps"]):
        group_name = f"{steps_name}[{index}]"
        group_node = run.tree.add(
            group_name, f"[{index}]", "StepGroup", template["name"], steps_node, steps_node
        )
        outcome: dict[str, tuple[str, list[str]]] = {}

        def one(
            step: Obj,
            group_name: str = group_name,
            group_node: str = group_node,
            outcome: dict[str, tuple[str, list[str]]] = outcome,
        ) -> None:
            outcome[step["name"]] = run_looped(
                run,
                step,
                scope,
                f"{group_name}.{step['name']}",
                step["name"],
                group_node,
                steps_node,
                slots,
                None,
            )

        threads = [threading.Thread(target=one, args=(s,), daemon=True) for s in group]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        failed_child = None
        for step in group:
            nid, children = outcome[step["name"]]
            ids = children or [nid]
            if children:
                publish_aggregate(run, scope, f"steps.{step['name']}", children)
            else:
                publish_outputs(scope, f"steps.{step['name']}", run.tree.get(nid))
            cont = step.get("continueOn") or {}
            for child in ids:
                phase = run.tree.get(child)["phase"]
                if (phase == "Failed" and not cont.get("failed")) or (
                    phase == "Error" and not cont.get("error")
                ):
                    failed_child = failed_child or run.tree.get(child)
        if failed_child is not None or run.cancelled():
            message = (
                run.cancel_message()
                if run.cancelled()
                else (
                    f"child '{failed_child['name']}' failed: {failed_child.get('message', '')}"
                    if failed_child
                    else ""
                )
            )
            phase = failed_child["phase"] if failed_child else "Failed"
            run.tree.update(group_node, phase=phase, message=message)
            end_daemons(run, steps_node)
            run.tree.update(steps_node, phase=phase, message=message)
            return
        run.tree.update(group_node, phase="Succeeded")
    end_daemons(run, steps_node)
    run.tree.update(steps_node, phase="Succeeded")
