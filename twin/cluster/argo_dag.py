"""DAG templates: scheduling by ``depends``/``dependencies``, Argo's phase assessment.

A task starts when every task its ``depends`` (or ``dependencies``) mentions is fulfilled
(finished, skipped, omitted, or a ready daemon); a false ``depends`` omits it (Argo: type
Skipped, phase Omitted). With ``failFast`` (the default) nothing new starts once a target
task's branch failed. The DAG's phase is Argo's assessment: each target (leaf) task's own
phase, or for a skipped/omitted one the worst phase of its dependencies' branches.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from twin.cluster.argo_expr import depends_tasks, evaluate_depends
from twin.cluster.argo_graph import (
    end_daemons,
    publish_aggregate,
    publish_outputs,
    run_looped,
    slots_for,
)
from twin.cluster.argo_nodes import DONE, FAILED
from twin.cluster.argo_spec import SpecError
from twin.cluster.interfaces import Obj

if TYPE_CHECKING:
    from twin.cluster.argo_run import WorkflowRun


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
    slots, scope, cond = slots_for(template), dict(tscope), threading.Condition()
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
            nid, children = run_looped(
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
                    publish_aggregate(run, scope, f"tasks.{name}", children)
                    scope[f"tasks.{name}.status"] = run.tree.get(nid)["phase"]
                else:
                    publish_outputs(scope, f"tasks.{name}", run.tree.get(nid))
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
                    publish_outputs(scope, f"tasks.{name}", run.tree.get(node_of[name]))
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
