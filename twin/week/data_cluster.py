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
import shutil
from pathlib import Path
from typing import Any

import yaml

from twin.errors import TwinError
from twin.week.argo_runs import in_one_process, lock_outs, pod_nodes, pushed_lock, run_template
from twin.week.context import Week
from twin.week.data_nights import restore_clone
from twin.week.market import drop_night

TEMPLATE = "data-pipeline"
FEATURES = "data/features"


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
    name, workflow = run_template(week, TEMPLATE, {"twin.week/night": str(night)})
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
    features = lock_outs(pushed_lock(workflow), "features")[FEATURES]
    week.facts["cluster_night"] = {"night": night, "features": features}
    return (
        f"{name}: {len(parts)} partition pods ({most} at once, parallelism {limit}), "
        f"features {features[:12]} pushed"
    )


def same_as_cluster_and_one_process(week: Week, night: int) -> str:
    """After night ``night``'s data.yml: its features are the cluster's, and one process's."""
    seen = week.facts.get("cluster_night") or {}
    if seen.get("night") != night:
        return ""
    committed = lock_outs(yaml.safe_load(week.git("show", "main:dvc.lock")), "features")[FEATURES]
    if committed != seen["features"]:
        raise TwinError(
            f"night {night}: data.yml committed features {committed[:12]}, the cluster's "
            f"fan-out pushed {seen['features'][:12]} from the same drop"
        )
    commit = week.git("rev-parse", "main")

    def one_process() -> str:
        clone = week.home / "clones" / f"night-{night}-single"
        restore_clone(week, clone.name, rev=commit)
        kept = clone.parent / f"{clone.name}-partitioned"
        shutil.rmtree(kept, ignore_errors=True)
        (clone / FEATURES).replace(kept)
        in_one_process(week, clone, {"data_partitions": 1}, "data", "features")
        differ = _differences(kept, clone / FEATURES)
        if differ:
            raise TwinError(f"night {night}: one process's feature store differs: {differ[:3]}")
        return f"one process writes the same bytes (fresh clone of {commit[:12]})"

    week.record.beside("the feature store in one process", one_process)
    return "; the cluster's fan-out pushed the same features"


def _differences(left: Path, right: Path) -> list[str]:
    mine = sorted(str(p.relative_to(left)) for p in left.rglob("*") if p.is_file())
    theirs = sorted(str(p.relative_to(right)) for p in right.rglob("*") if p.is_file())
    if mine != theirs:
        return sorted(set(mine) ^ set(theirs))
    return [f for f in mine if not filecmp.cmp(left / f, right / f, shallow=False)]
