"""Container and script templates as pods: the pod spec Argo would create, run, and its outputs.

The pod gets the template's container as ``main`` (``restartPolicy: Never``), the workflow's
and template's volumes, one ``persistentVolumeClaim`` per ``volumeClaimTemplates`` entry
(claim ``<workflow>-<name>``, as Argo names it), the template's or workflow's security context.
A script's source is written where the container sees it (Argo: ``/argo/staging/script``)
and appended to its command. Outputs: ``result`` is the main container's stdout, parameters
are read from ``valueFrom.path`` inside the pod (``default`` when the file is missing).
A pod refused (``FailedCreate``: its ServiceAccount is missing) or stuck on ``ErrImagePull``,
``CreateContainerConfigError`` or ``FailedMount`` errors the node at once with the message
(a real cluster would leave the pod waiting until the deadline).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from twin.cluster.argo_nodes import pod_name
from twin.cluster.argo_spec import SpecError
from twin.cluster.interfaces import Obj, Pod

if TYPE_CHECKING:
    from twin.cluster.argo_run import WorkflowRun

STUCK = (
    "ErrImagePull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "FailedMount",
    "FailedCreate",
)
RESULT_LIMIT = 256 * 1024


@dataclass
class PodOutcome:
    """How a pod node ended (or, for a daemon, became ready)."""

    phase: str
    message: str = ""
    exit_code: int | None = None
    result: str | None = None
    parameters: list[dict[str, str]] = field(default_factory=list)
    ip: str = ""
    pod: Pod | None = None


def pod_spec(run: WorkflowRun, template: Obj) -> Obj:
    """The pod Argo would create for a (substituted) container or script template.

    Raises:
        SpecError: Sidecars, or a podSpecPatch that is not a mapping.
    """
    if template.get("sidecars"):
        raise SpecError(f"template {template.get('name')}: sidecars are not supported by the twin")
    is_script = "script" in template
    container = {
        k: v
        for k, v in (template.get("script") or template.get("container") or {}).items()
        if k != "source"
    }
    container["name"] = "main"
    if is_script:
        container["twinScript"] = template["script"].get("source", "")
        container.setdefault("command", ["python"])
    volumes = [*(run.spec.get("volumes") or []), *(template.get("volumes") or [])]
    for claim in run.spec.get("volumeClaimTemplates") or []:
        name = claim["metadata"]["name"]
        volumes.append({"name": name, "persistentVolumeClaim": {"claimName": f"{run.name}-{name}"}})
    spec: Obj = {
        "containers": [container],
        "initContainers": list(template.get("initContainers") or []),
        "restartPolicy": "Never",
        "volumes": volumes,
        "serviceAccountName": template.get("serviceAccountName")
        or run.spec.get("serviceAccountName", "default"),
        "securityContext": template.get("securityContext") or run.spec.get("securityContext") or {},
        "terminationGracePeriodSeconds": 10,
    }
    patch = template.get("podSpecPatch") or run.spec.get("podSpecPatch")
    if patch:
        loaded = yaml.safe_load(patch) if isinstance(patch, str) else patch
        if not isinstance(loaded, dict):
            raise SpecError(f"template {template.get('name')}: podSpecPatch is not a mapping")
        for patched in loaded.get("containers") or []:
            for target in spec["containers"]:
                if target["name"] == patched.get("name"):
                    target.update(patched)
    return spec


def run_pod(run: WorkflowRun, template: Obj, node: str, node_name: str, daemon: bool) -> PodOutcome:
    """Run the template's pod to its end (a daemon: until it is ready) and collect outputs."""
    name = pod_name(run.name, node_name, str(template.get("name", "")))
    spec = pod_spec(run, template)
    labels = {
        "workflows.argoproj.io/workflow": run.name,
        "workflows.argoproj.io/completed": "false",
    }
    deadline_s = template.get("activeDeadlineSeconds")
    with run.pod_slots:
        if run.cancelled():
            return PodOutcome("Failed", run.cancel_message())
        pod = run.pods.start(run.namespace, name, spec, labels)
        run.tree.update(node, podIP=pod.ip, hostNodeName="twin")
        deadline = time.monotonic() + float(deadline_s) if deadline_s else None
        while True:
            if run.cancelled():
                run.pods.delete(pod, 5.0)
                return PodOutcome("Failed", run.cancel_message(), ip=pod.ip)
            if pod.extra.get("reason") in STUCK:
                run.pods.delete(pod, 0.0)
                return PodOutcome("Error", pod.message, ip=pod.ip)
            if daemon and pod.ready and pod.phase == "Running":
                return PodOutcome("Running", ip=pod.ip, pod=pod)
            if pod.phase in ("Succeeded", "Failed"):
                outcome = _finished(pod, template)
                run.pods.delete(pod, 0.0)
                return outcome
            if deadline is not None and time.monotonic() > deadline:
                run.pods.delete(pod, 5.0)
                return PodOutcome(
                    "Failed",
                    "Pod was active on the node longer than the specified deadline",
                    ip=pod.ip,
                )
            time.sleep(0.1)


def _finished(pod: Pod, template: Obj) -> PodOutcome:
    code = pod.exit_code if pod.exit_code is not None else 1
    code = code if code >= 0 else 128 - code
    result = None
    if pod.log_dir is not None and (pod.log_dir / "main.out").exists():
        result = (pod.log_dir / "main.out").read_text(encoding="utf-8", errors="replace")[
            :RESULT_LIMIT
        ]
        result = result.rstrip("\n")
    if pod.phase == "Failed":
        return PodOutcome("Failed", f"Error (exit code {code})", code, result, ip=pod.ip)
    parameters, missing = _output_parameters(pod, template)
    if missing:
        return PodOutcome("Error", missing, code, result, ip=pod.ip)
    return PodOutcome("Succeeded", "", code, result, parameters, ip=pod.ip)


def _output_parameters(pod: Pod, template: Obj) -> tuple[list[dict[str, str]], str]:
    found: list[dict[str, str]] = []
    mapper = (pod.extra.get("mappers") or {}).get("main")
    for param in (template.get("outputs") or {}).get("parameters") or []:
        source: dict[str, Any] = param.get("valueFrom") or {}
        if "path" not in source:
            if "default" in source:
                found.append({"name": param["name"], "value": str(source["default"])})
                continue
            return (
                found,
                f"output parameter {param['name']}: only valueFrom.path is supported by the twin",
            )
        host = mapper.host(source["path"]) if mapper is not None else None
        if host is not None and host.is_file():
            value = host.read_text(encoding="utf-8", errors="replace").rstrip("\n")
        elif "default" in source:
            value = str(source["default"])
        else:
            return found, f"open {source['path']}: no such file or directory"
        entry = {"name": param["name"], "value": value}
        if param.get("globalName"):
            entry["globalName"] = param["globalName"]
        found.append(entry)
    return found, ""


def outputs_status(outcome: PodOutcome) -> Obj:
    """The node's ``outputs`` as Argo writes it."""
    outputs: Obj = {}
    if outcome.result is not None:
        outputs["result"] = outcome.result
    if outcome.parameters:
        outputs["parameters"] = [
            {k: v for k, v in p.items() if k != "globalName"} for p in outcome.parameters
        ]
    if outcome.exit_code is not None:
        outputs["exitCode"] = str(outcome.exit_code)
    return outputs


def result_json(values: list[str]) -> str:
    """A list of strings as JSON (for scope entries)."""
    return json.dumps(values)
