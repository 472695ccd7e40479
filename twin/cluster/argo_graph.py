"""DAG and steps templates: scheduling, ``depends``/``when``, loops, parallelism, daemons.

DAG: a task starts when every task its ``depends`` (or ``dependencies``) mentions is fulfilled
(finished, skipped, omitted, or a ready daemon); a false ``depends`` omits it (Argo: type
Skipped, phase Omitted). With ``failFast`` (the default) nothing new starts once a target
task's branch failed. The DAG's phase is Argo's assessment: each target (leaf) task's own
phase, or for a skipped/omitted one the worst phase of its dependencies' branches.
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
    depends_tasks,
    evaluate_depends,
    evaluate_when,
    substitute_all,
)
from twin.cluster.argo_nodes import DONE, FAILED
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


def _slots(template: Obj) -> Any:
    limit = template.get("parallelism")
    return threading.BoundedSemaphore(int(limit)) if limit else contextlib.nullcontext()


def _publish_outputs(scope: dict[str, str], prefix: str, node: Obj) -> None:
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


def _publish_aggregate(
    run: WorkflowRun, scope: dict[str, str], prefix: str, children: list[str]
) -> None:
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


def _run_looped(
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


def run_dag(
    run: WorkflowRun, template: Obj, tscope: dict[str, str], dag_node: str, dag_name: str
) -> None:
    """Run a DAG template as node ``dag_node`` (see module doc)."""
    tasks = {t["name"]: t for t in template["dag"]["tasks"]}
    depends: dict[str, str] = {}
    for name, task in tasks.items():
        if "depends" in task:
            depends[name] = str(task["depends"])
        else:
            depends[name] = " && ".join(_bare(d, tasks) for d in task.get("dependencies") or [])
        unknown = [
            d for d in depends_tasks(depends[name]) if d not in tasks and d not in ("true", "false")
        ]
        if unknown:
            raise SpecError(
                f"template {template['name']}: task {name} depends on unknown task {unknown[0]}"
            )
    needs = {n: [d for d in depends_tasks(e) if d in tasks] for n, e in depends.items()}
    needed = {d for deps in needs.values() for d in deps}
    targets = str(template["dag"].get("target", "")).split() or [
        n for n in tasks if n not in needed
    ]
    fail_fast = template["dag"].get("failFast", True)
    slots, scope, cond = _slots(template), dict(tscope), threading.Condition()
    node_of: dict[str, str] = {}
    running: set[str] = set()

    def fulfilled(name: str) -> bool:
        if name not in node_of:
            return False
        node = run.tree.get(node_of[name])
        return node["phase"] in DONE or bool(node.get("daemoned"))

    def result(name: str, wanted: str) -> bool:
        node = run.tree.get(node_of[name])
        kids = (
            [run.tree.get(c)["phase"] for c in node.get("children", [])]
            if node["type"] == "TaskGroup"
            else []
        )
        return {
            "Succeeded": node["phase"] == "Succeeded",
            "Failed": node["phase"] == "Failed",
            "Errored": node["phase"] == "Error",
            "Skipped": node["phase"] == "Skipped",
            "Omitted": node["phase"] == "Omitted",
            "Daemoned": bool(node.get("daemoned")) and node["phase"] != "Pending",
            "AnySucceeded": "Succeeded" in kids,
            "AllFailed": bool(kids) and all(k in FAILED for k in kids),
        }[wanted]

    def branch(name: str) -> str:
        node = run.tree.get(node_of[name]) if name in node_of else None
        if node is None:
            return ""
        if node["phase"] in ("Succeeded", *FAILED):
            return str(node["phase"])
        if node["phase"] not in ("Skipped", "Omitted") and not node.get("daemoned"):
            return ""  # still running
        phases = [branch(d) for d in needs[name]]
        return next((p for p in phases if p in FAILED), "" if "" in phases else "Succeeded")

    def start(name: str) -> None:
        def work() -> None:
            nid, children = _run_looped(
                run,
                tasks[name],
                scope,
                f"{dag_name}.{name}",
                name,
                dag_node,
                dag_node,
                slots,
                "TaskGroup",
            )
            with cond:
                node_of[name] = nid
                if children:
                    _publish_aggregate(run, scope, f"tasks.{name}", children)
                    scope[f"tasks.{name}.status"] = run.tree.get(nid)["phase"]
                else:
                    _publish_outputs(scope, f"tasks.{name}", run.tree.get(nid))
                running.discard(name)
                cond.notify_all()

        running.add(name)
        threading.Thread(target=work, name=f"task-{name}", daemon=True).start()

    with cond:
        while True:
            stop = run.cancelled() or (fail_fast and any(branch(t) in FAILED for t in targets))
            for name in tasks:
                if (
                    stop
                    or name in node_of
                    or name in running
                    or not all(fulfilled(d) for d in needs[name])
                ):
                    continue
                if evaluate_depends(depends[name], result) if depends[name] else True:
                    start(name)
                else:
                    node_of[name] = run.tree.add(
                        f"{dag_name}.{name}",
                        name,
                        "Skipped",
                        str(tasks[name].get("template", "")),
                        dag_node,
                        dag_node,
                        phase="Omitted",
                        message="omitted: depends condition not met",
                    )
                    _publish_outputs(scope, f"tasks.{name}", run.tree.get(node_of[name]))
            if not running and (
                stop or len(node_of) == len(tasks) or not _startable(tasks, node_of, needs)
            ):
                break
            cond.wait(timeout=0.2)
    end_daemons(run, dag_node)
    phases = [branch(t) for t in targets]
    failed = next((p for p in phases if p in FAILED), None)
    if failed or run.cancelled() or "" in phases:
        first = run.tree.first_failure(dag_node)
        message = (
            run.cancel_message()
            if run.cancelled()
            else (
                f"child '{first['name']}' failed: {first.get('message', '')}"
                if first
                else "DAG did not complete"
            )
        )
        run.tree.update(dag_node, phase=failed or "Failed", message=message)
    else:
        run.tree.update(dag_node, phase="Succeeded")


def _bare(name: str, tasks: dict[str, Obj]) -> str:
    """A ``dependencies`` entry as ``depends`` (``continueOn`` adds Failed/Errored)."""
    task = tasks.get(name) or {}
    extra = [f"{name}.Failed"] * bool((task.get("continueOn") or {}).get("failed")) + [
        f"{name}.Errored"
    ] * bool((task.get("continueOn") or {}).get("error"))
    return f"({' || '.join([name, *extra])})" if extra else name


def _startable(tasks: dict[str, Obj], node_of: dict[str, str], needs: dict[str, list[str]]) -> bool:
    return any(n not in node_of and all(d in node_of for d in needs[n]) for n in tasks)


def run_steps(
    run: WorkflowRun, template: Obj, tscope: dict[str, str], steps_node: str, steps_name: str
) -> None:
    """Run a steps template as node ``steps_node`` (see module doc)."""
    scope, slots = dict(tscope), _slots(template)
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
            outcome[step["name"]] = _run_looped(
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
                _publish_aggregate(run, scope, f"steps.{step['name']}", children)
            else:
                _publish_outputs(scope, f"steps.{step['name']}", run.tree.get(nid))
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
