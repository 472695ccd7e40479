"""Running one template of a workflow: inputs, retries, synchronization, pods, suspend.

``retryStrategy`` (limit, retryPolicy Always/OnFailure/OnError, backoff.duration and factor)
makes a Retry node whose attempts are ``name(N)``; its last attempt's outputs are the node's.
Template-level ``synchronization.mutexes`` are held while the template runs. A daemon pod that
became ready leaves its node Running with ``daemoned: true`` until its scope ends.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from twin.cluster import argo_dag, argo_graph
from twin.cluster.argo_expr import ExprError, substitute, substitute_all
from twin.cluster.argo_nodes import pod_name
from twin.cluster.argo_pod import outputs_status, run_pod
from twin.cluster.argo_spec import SpecError, as_text, find_template, template_type
from twin.cluster.argo_sync import mutex_keys
from twin.cluster.interfaces import Obj

if TYPE_CHECKING:
    from twin.cluster.argo_run import WorkflowRun


def seconds(text: Any) -> float:
    """A duration (``30s``, ``2m``, ``1h``, ``500ms`` or a number of seconds) in seconds."""
    value = str(text).strip()
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if value.endswith(unit) and value[: -len(unit)].replace(".", "", 1).isdigit():
            return float(value[: -len(unit)]) * units[unit]
    return float(value)


def execute(
    run: WorkflowRun,
    holder: Obj,
    node_name: str,
    display: str,
    parent: str | None,
    boundary: str | None,
    args: dict[str, str],
) -> str:
    """Run the template ``holder`` names as node ``node_name`` of ``run``; returns the node id."""
    try:
        template = find_template(run.store, run.namespace, run.templates, holder)
        kind = template_type(template)
        inputs = _inputs(run, template, args)
    except (SpecError, ExprError) as exc:
        nid = run.tree.add(
            node_name, display, "Pod", str(holder.get("template", "")), parent, boundary
        )
        run.tree.update(nid, phase="Error", message=str(exc))
        return nid
    scope = {
        **run.globals,
        **{f"inputs.parameters.{k}": v for k, v in inputs.items()},
        "inputs.parameters": json.dumps([{"name": k, "value": v} for k, v in inputs.items()]),
    }
    retry = template.get("retryStrategy") or run.spec.get("retryStrategy")
    if retry and kind in ("container", "script"):
        return _retry(
            run, template, kind, scope, retry, node_name, display, parent, boundary, inputs
        )
    return _once(run, template, kind, scope, node_name, display, parent, boundary, inputs)


def _inputs(run: WorkflowRun, template: Obj, args: dict[str, str]) -> dict[str, str]:
    inputs = template.get("inputs") or {}
    if inputs.get("artifacts"):
        raise SpecError(
            f"template {template['name']}: input artifacts are not supported by the twin"
        )
    values: dict[str, str] = {}
    for param in inputs.get("parameters") or []:
        if param["name"] in args:
            values[param["name"]] = args[param["name"]]
        elif "value" in param:
            values[param["name"]] = substitute(as_text(param["value"]), run.globals)
        else:
            raise SpecError(f"inputs.parameters.{param['name']} was not supplied")
    return values


def _once(
    run: WorkflowRun,
    template: Obj,
    kind: str,
    scope: dict[str, str],
    node_name: str,
    display: str,
    parent: str | None,
    boundary: str | None,
    inputs: dict[str, str],
) -> str:
    node_type = {"container": "Pod", "script": "Pod", "dag": "DAG", "steps": "Steps"}.get(
        kind, "Suspend"
    )
    nid = run.tree.add(
        node_name,
        display,
        node_type,
        template["name"],
        parent,
        boundary,
        phase="Pending" if node_type == "Pod" else "Running",
        inputs={"parameters": [{"name": k, "value": v} for k, v in inputs.items()]},
    )
    keys: list[str] = []
    try:
        keys = mutex_keys(substitute_all(template.get("synchronization"), scope), run.namespace)
        for key in keys:
            if not run.mutexes.acquire(
                key,
                f"{run.holder}/{nid}",
                lambda m: run.tree.update(nid, message=m),
                run.cancelled,
            ):
                run.tree.update(nid, phase="Failed", message=run.cancel_message())
                return nid
        if kind == "dag":
            argo_dag.run_dag(run, template, scope, nid, node_name)
        elif kind == "steps":
            argo_graph.run_steps(run, template, scope, nid, node_name)
        elif kind == "suspend":
            _suspend(run, template, nid)
        else:
            _pod(run, template, scope, nid, node_name, boundary)
    except (SpecError, ExprError) as exc:
        run.tree.update(nid, phase="Error", message=str(exc))
    finally:
        for key in keys:
            run.mutexes.release(key, f"{run.holder}/{nid}")
    return nid


def _pod(
    run: WorkflowRun,
    template: Obj,
    scope: dict[str, str],
    nid: str,
    node_name: str,
    boundary: str | None,
) -> None:

    resolved = substitute_all(
        template, {**scope, "pod.name": pod_name(run.name, node_name, template["name"])}
    )
    run.tree.update(nid, phase="Running")
    outcome = run_pod(run, resolved, nid, node_name, bool(resolved.get("daemon")))
    if outcome.phase == "Running":
        run.tree.update(nid, phase="Running", daemoned=True, podIP=outcome.ip)
        run.daemons.setdefault(boundary or nid, []).append((nid, outcome.pod))
        return
    for param in outcome.parameters:
        if param.get("globalName"):
            run.globals[f"workflow.outputs.parameters.{param['globalName']}"] = param["value"]
    run.tree.update(
        nid,
        phase=outcome.phase,
        message=outcome.message,
        outputs=outputs_status(outcome) or None,
    )


def _suspend(run: WorkflowRun, template: Obj, nid: str) -> None:
    duration = (template.get("suspend") or {}).get("duration")
    if duration is None:
        raise SpecError(
            f"template {template['name']}: suspend without a duration needs `argo resume`, "
            "which the twin does not serve"
        )
    end = time.monotonic() + seconds(duration)
    while time.monotonic() < end and not run.cancelled():
        time.sleep(0.1)
    run.tree.update(
        nid,
        phase="Failed" if run.cancelled() else "Succeeded",
        message=run.cancel_message() if run.cancelled() else "",
    )


def _retry(
    run: WorkflowRun,
    template: Obj,
    kind: str,
    scope: dict[str, str],
    retry: Obj,
    node_name: str,
    display: str,
    parent: str | None,
    boundary: str | None,
    inputs: dict[str, str],
) -> str:
    nid = run.tree.add(node_name, display, "Retry", template["name"], parent, boundary)
    limit_text = substitute(as_text(retry["limit"]), scope) if "limit" in retry else ""
    limit = int(limit_text) if limit_text else 10**6
    policy = str(retry.get("retryPolicy", "OnFailure"))
    backoff = retry.get("backoff") or {}
    for attempt in range(limit + 1):
        child = _once(
            run,
            template,
            kind,
            scope,
            f"{node_name}({attempt})",
            f"{display}({attempt})",
            nid,
            boundary,
            inputs,
        )
        node = run.tree.get(child)
        phase = node["phase"]
        if phase == "Succeeded" or node.get("daemoned"):
            run.tree.update(
                nid,
                phase=phase,
                daemoned=node.get("daemoned"),
                podIP=node.get("podIP"),
                outputs=node.get("outputs"),
            )
            return nid
        retryable = (
            policy == "Always"
            or (policy == "OnFailure" and phase == "Failed")
            or (policy in ("OnError", "OnTransientError") and phase == "Error")
        )
        if not retryable or attempt == limit or run.cancelled():
            message = (
                "No more retries left"
                if retryable and attempt == limit
                else node.get("message", "")
            )
            run.tree.update(nid, phase=phase, message=message, outputs=node.get("outputs"))
            return nid
        wait = (
            seconds(backoff["duration"]) * float(backoff.get("factor", 1)) ** attempt
            if backoff.get("duration")
            else 0.0
        )
        end = time.monotonic() + wait
        while time.monotonic() < end and not run.cancelled():
            time.sleep(0.1)
    return nid
