"""The nightly data template on the twin's Argo: the features stage fanned out, a pod a partition.

``deploy/argo/data.yaml`` is submitted as its CronWorkflow would submit it, with the tools image
image.yml built: checkout, validate (which prints the partitions), one ``features-partition``
pod per partition of the twin profile's ``scale.data_partitions`` (at most the template's
``parallelism`` at once), publish (merge, health, ``dvc push``), which leaves the ``dvc.lock``
it pushed as an output. It commits nothing; the night's ``data.yml`` run then processes the same
drop on a runner, and its committed ``dvc.lock`` must name the same features; after it, the
store is computed once more in a single process in a fresh clone and must be the same bytes.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from pipelines.delivery.argo import ArgoClient, server_from
from twin.errors import TwinError
from twin.week.cluster_view import kubectl
from twin.week.context import RUN_TIMEOUT, Week
from twin.week.data_nights import _run, restore_clone
from twin.week.market import drop_night

TEMPLATE = "data-pipeline"
_ATTEMPT = re.compile(r"\(\d+\)$")
FEATURES = "data/features"


def tools_image(week: Week) -> str:
    """The tools image image.yml built, by digest (as the deploy workflow names it)."""
    tools = next(
        word.rstrip(";,")
        for line in week.facts["images"]
        for word in line.split()
        if "strategy-tools@sha256:" in word
    )
    return tools if "/" in tools else f"ghcr.io/trading-pipelines/{tools}"


def wait(client: ArgoClient, name: str) -> str:
    """The Workflow's phase once it has ended (bounded by the week's run timeout)."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while (phase := client.phase(name)) in ("", "Pending", "Running"):
        if time.monotonic() > deadline:
            raise TwinError(f"{name}: still {phase or 'not started'} after {RUN_TIMEOUT:.0f}s")
        time.sleep(0.5)
    return phase


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


def _features_md5(lock: dict[str, Any]) -> str:
    for out in lock["stages"]["features"]["outs"]:
        if out["path"] == FEATURES:
            return str(out["md5"])
    raise TwinError(f"dvc.lock: the features stage has no output {FEATURES}")


def _most_at_once(pods: list[dict[str, Any]]) -> int:
    edges = sorted(
        [(str(p["startedAt"]), 1) for p in pods] + [(str(p["finishedAt"]), -1) for p in pods]
    )
    running = most = 0
    for _, step in edges:  # a finish before a start at the same second: -1 sorts first
        running += step
        most = max(most, running)
    return most


def cluster_night(week: Week, night: int) -> str:
    """Night ``night``'s drop through ``data-pipeline`` on Argo, partitions fanned out."""
    drop_night(week.root, week.env, night)
    client = ArgoClient(server_from(None, None, None, environ=week.env))
    params = {"revision": "main", "tools-image": tools_image(week)}
    name = client.submit(TEMPLATE, params, {"twin.week/night": str(night)})
    phase = wait(client, name)
    workflow = json.loads(kubectl(week, "get", "workflow", name, "-n", "argo", "-o", "json"))
    if phase != "Succeeded":
        failed = "; ".join(client.failed_steps(name)) or "no pod failed"
        raise TwinError(f"{name} {phase}: {failed}")
    parts = pod_nodes(workflow, "features-partition")
    profile = yaml.safe_load(week.git("show", "main:params.yaml"))["scale"]
    template = next(yaml.safe_load_all(week.git("show", "main:deploy/argo/data.yaml")))
    limit = next(t for t in template["spec"]["templates"] if t["name"] == "data")["parallelism"]
    if len(parts) != profile["data_partitions"] or any(p["phase"] != "Succeeded" for p in parts):
        raise TwinError(
            f"{name}: {len(parts)} partition pods, expected {profile['data_partitions']} succeeded"
        )
    most = _most_at_once(parts)
    if most > int(limit):
        raise TwinError(f"{name}: {most} partition pods at once, the template allows {limit}")
    (publish,) = pod_nodes(workflow, "publish")
    pushed = yaml.safe_load(
        next(p["value"] for p in publish["outputs"]["parameters"] if p["name"] == "dvc-lock")
    )
    week.facts["cluster_night"] = {"night": night, "features": _features_md5(pushed)}
    return (
        f"{name}: {len(parts)} partition pods ({most} at once, parallelism {limit}), "
        f"features {_features_md5(pushed)[:12]} pushed"
    )


def same_as_cluster_and_one_process(week: Week, night: int) -> str:
    """After night ``night``'s data.yml: its features are the cluster's, and one process's."""
    seen = week.facts.get("cluster_night") or {}
    if seen.get("night") != night:
        return ""
    committed = _features_md5(yaml.safe_load(week.git("show", "main:dvc.lock")))
    if committed != seen["features"]:
        raise TwinError(
            f"night {night}: data.yml committed features {committed[:12]}, the cluster's "
            f"fan-out pushed {seen['features'][:12]} from the same drop"
        )
    clone = week.home / "clones" / f"night-{night}-single"
    restore_clone(week, clone.name)
    kept = clone.parent / f"{clone.name}-partitioned"
    shutil.rmtree(kept, ignore_errors=True)
    (clone / FEATURES).replace(kept)
    single = yaml.safe_load((clone / "params.yaml").read_text(encoding="utf-8"))
    single["scale"]["data_partitions"] = 1
    (clone / "params-single.yaml").write_text(yaml.safe_dump(single), encoding="utf-8")
    env = {**os.environ, **week.env}
    argv = [sys.executable, "-m", "pipelines", "--params", "params-single.yaml", "data", "features"]
    _run(argv, clone, "features in one process", env)
    differ = _differences(kept, clone / FEATURES)
    if differ:
        raise TwinError(f"night {night}: one process's feature store differs: {differ[:3]}")
    return "; the cluster's fan-out pushed the same features; one process writes the same bytes"


def _differences(left: Path, right: Path) -> list[str]:
    mine = sorted(str(p.relative_to(left)) for p in left.rglob("*") if p.is_file())
    theirs = sorted(str(p.relative_to(right)) for p in right.rglob("*") if p.is_file())
    if mine != theirs:
        return sorted(set(mine) ^ set(theirs))
    return [f for f in mine if not filecmp.cmp(left / f, right / f, shallow=False)]
