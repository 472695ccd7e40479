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
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from twin.errors import TwinError
from twin.week.argo_runs import in_one_process, lock_outs, pod_nodes, pushed_lock, run_template
from twin.week.context import Week
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


def cluster_training(week: Week) -> str:
    """``training-pipeline`` on Argo; its outputs against one process on the same inputs.

    The fresh clone of the commit the workflow checks out (it commits nothing) is restored
    while the workflow runs.
    """
    clone = week.home / "clones" / "training-single"
    commit = week.git("rev-parse", "main")
    with ThreadPoolExecutor(max_workers=1) as pool:
        restored = pool.submit(restore_clone, week, clone.name, rev=commit)
        name, workflow = run_template(week, TEMPLATE, {})
        restored.result()
    params = yaml.safe_load(week.git("show", "main:params.yaml"))
    tuners = pod_nodes(workflow, "tune-worker")
    splitters = pod_nodes(workflow, "train-splits")
    want = (params["training"]["tuning"]["workers"], params["scale"]["cv_workers"])
    if (len(tuners), len(splitters)) != want:
        raise TwinError(
            f"{name}: {len(tuners)} tune-worker and {len(splitters)} train-splits pods, "
            f"expected {want[0]} and {want[1]}"
        )
    lock = pushed_lock(workflow)
    pushed = lock_outs(lock, "train")

    (clone / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False), encoding="utf-8")
    dvc = str(Path(sys.executable).parent / "dvc")
    _run([dvc, "pull", "--quiet", "tune"], clone, "dvc pull tune", {**os.environ, **week.env})
    in_one_process(week, clone, {"cv_workers": 1}, "train")
    differ = [p for p in COMPARED if _md5(clone / p) != pushed[p]]
    if differ:
        raise TwinError(f"{name}: one process's {', '.join(differ)} differ from the pods' run")
    return (
        f"{name}: {len(tuners)} tune-worker pod(s), {len(splitters)} train-splits pods; "
        f"one process writes the same bundle {pushed['models/model_bundle.json'][:12]} "
        "and positions"
    )
