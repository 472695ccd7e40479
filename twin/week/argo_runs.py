"""The platform's own WorkflowTemplates run on the twin's Argo, as their CronWorkflows run them.

Shared by the week's cluster night (``deploy/argo/data.yaml``) and cluster training
(``deploy/argo/training.yaml``): submit with the tools image image.yml built, wait through the
deploy command's own watcher, read the pods and the ``dvc.lock`` the run pushed, and run a stage
once more in one process in a clone to compare its outputs.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from pipelines.delivery.argo import ArgoClient, server_from
from pipelines.delivery.deploy import DONE, watch
from pipelines.io.workers import pipelines_argv
from twin.errors import TwinError
from twin.week.cluster_view import kubectl
from twin.week.context import RUN_TIMEOUT, Week
from twin.week.data_nights import _run
from twin.week.delivery import manifest

_ATTEMPT = re.compile(r"\(\d+\)$")


def tools_image(week: Week) -> str:
    """The tools image image.yml built, by digest, in the service image's registry (prod)."""
    tools = next(
        word.rstrip(";,")
        for line in week.facts["images"]
        for word in line.split()
        if "strategy-tools@sha256:" in word
    )
    # image.yml names it without its registry; the registry is the service image's (prod).
    registry = str(manifest(week, "prod")["image"]).split("@")[0].rsplit("/", 1)[0]
    return tools if "/" in tools else f"{registry}/{tools}"


def run_template(week: Week, template: str, labels: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Submit ``template`` on main and wait for it; its name and Workflow once it succeeded.

    Raises:
        TwinError: It failed (its failed steps named) or did not end within the run timeout.
    """
    client = ArgoClient(server_from(None, None, None, environ=week.env))
    parameters = {"revision": "main", "tools-image": tools_image(week)}
    name = client.submit(template, parameters, labels)
    phase = watch(client, {template: name}, RUN_TIMEOUT)[template]
    if phase not in DONE:
        raise TwinError(f"{name}: still {phase or 'not started'} after {RUN_TIMEOUT:.0f}s")
    if phase != "Succeeded":
        failed = "; ".join(client.failed_steps(name)) or "no pod failed"
        raise TwinError(f"{name} {phase}: {failed}")
    workflow = json.loads(kubectl(week, "get", "workflow", name, "-n", "argo", "-o", "json"))
    return name, workflow


def pod_nodes(workflow: dict[str, Any], template: str) -> list[dict[str, Any]]:
    """The Workflow's pod nodes of one template: each task's (or item's) last attempt.

    A retried step's attempts are named ``<step>(N)``; the last one started is kept.
    """
    nodes = workflow["status"]["nodes"].values()
    pods = [n for n in nodes if n.get("templateName") == template and n["type"] == "Pod"]
    last: dict[str, dict[str, Any]] = {}
    for pod in sorted(pods, key=lambda n: str(n.get("startedAt") or "")):
        last[_ATTEMPT.sub("", str(pod["displayName"]))] = pod
    return list(last.values())


def pushed_lock(workflow: dict[str, Any]) -> dict[str, Any]:
    """The ``dvc.lock`` the Workflow's publish step pushed (its ``dvc-lock`` output)."""
    (publish,) = pod_nodes(workflow, "publish")
    outputs = publish["outputs"]["parameters"]
    lock: dict[str, Any] = yaml.safe_load(
        next(p["value"] for p in outputs if p["name"] == "dvc-lock")
    )
    return lock


def lock_outs(lock: dict[str, Any], stage: str) -> dict[str, str]:
    """A stage's outputs in a ``dvc.lock``: path -> md5."""
    return {str(o["path"]): str(o["md5"]) for o in lock["stages"][stage]["outs"]}


def in_one_process(week: Week, clone: Path, scale: dict[str, int], *argv: str) -> None:
    """``pipelines ARGV`` in ``clone`` with its params.yaml but these ``scale`` settings."""
    params = yaml.safe_load((clone / "params.yaml").read_text(encoding="utf-8"))
    params["scale"] = {**params["scale"], **scale}
    (clone / "params-single.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    command = pipelines_argv("params-single.yaml", *argv)
    _run(command, clone, f"{' '.join(argv)} in one process", {**os.environ, **week.env})
