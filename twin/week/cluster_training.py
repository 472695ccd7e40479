"""The weekly training template on the twin's Argo: tuning workers and CV splits as pods.

``deploy/argo/training.yaml`` is submitted as its CronWorkflow would submit it, with the tools
image image.yml built, at the end of the week (it registers what it trains, and the week's model
versions are counted before): one shared study with a ``tune-worker`` pod per share of
``training.tuning.workers``, a ``train-splits`` pod per share of ``scale.cv_workers``, then
``publish`` (``dvc repro``: train reads the pods' predictions; ``dvc push``), which leaves its
``dvc.lock``. In a fresh clone holding that lock and its tuning result, the train stage in one
process must write the same model bundle and out-of-sample positions, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from pipelines.delivery.argo import ArgoClient, server_from
from twin.errors import TwinError
from twin.week.cluster_view import kubectl
from twin.week.context import Week
from twin.week.data_cluster import pod_nodes, tools_image, wait
from twin.week.data_nights import _run, restore_clone

TEMPLATE = "training-pipeline"
COMPARED = (
    "models/model_bundle.json",
    "models/oos_predictions.parquet",
    "models/cpcv_positions.parquet",
)


def _md5(path: Path) -> str:
    """A file's md5, as DVC records it in dvc.lock."""
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _outs(lock: dict[str, Any], stage: str) -> dict[str, str]:
    return {str(o["path"]): str(o["md5"]) for o in lock["stages"][stage]["outs"]}


def cluster_training(week: Week) -> str:
    """``training-pipeline`` on Argo; its outputs against one process on the same inputs."""
    client = ArgoClient(server_from(None, None, None, environ=week.env))
    name = client.submit(TEMPLATE, {"revision": "main", "tools-image": tools_image(week)}, {})
    phase = wait(client, name)
    if phase != "Succeeded":
        failed = "; ".join(client.failed_steps(name)) or "no pod failed"
        raise TwinError(f"{name} {phase}: {failed}")
    workflow = json.loads(kubectl(week, "get", "workflow", name, "-n", "argo", "-o", "json"))
    params = yaml.safe_load(week.git("show", "main:params.yaml"))
    tuners = pod_nodes(workflow, "tune-worker")
    splitters = pod_nodes(workflow, "train-splits")
    want = (params["training"]["tuning"]["workers"], params["scale"]["cv_workers"])
    if (len(tuners), len(splitters)) != want:
        raise TwinError(
            f"{name}: {len(tuners)} tune-worker and {len(splitters)} train-splits pods, "
            f"expected {want[0]} and {want[1]}"
        )
    (publish,) = pod_nodes(workflow, "publish")
    lock = yaml.safe_load(
        next(p["value"] for p in publish["outputs"]["parameters"] if p["name"] == "dvc-lock")
    )
    pushed = _outs(lock, "train")

    clone = week.home / "clones" / "training-single"
    restore_clone(week, clone.name)
    (clone / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False), encoding="utf-8")
    env = {**os.environ, **week.env}
    dvc = str(Path(sys.executable).parent / "dvc")
    _run([dvc, "pull", "--quiet", "tune"], clone, "dvc pull tune", env)
    single = dict(params, scale={**params["scale"], "cv_workers": 1})
    (clone / "params-single.yaml").write_text(yaml.safe_dump(single), encoding="utf-8")
    argv = [sys.executable, "-m", "pipelines", "--params", "params-single.yaml", "train"]
    _run(argv, clone, "train in one process", env)
    differ = [p for p in COMPARED if _md5(clone / p) != pushed[p]]
    if differ:
        raise TwinError(f"{name}: one process's {', '.join(differ)} differ from the pods' run")
    return (
        f"{name}: {len(tuners)} tune-worker pod(s), {len(splitters)} train-splits pods; "
        f"one process writes the same bundle {pushed['models/model_bundle.json'][:12]} "
        "and positions"
    )
