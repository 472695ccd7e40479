"""CV splits fanned out to worker processes: the train stage writes what one process writes."""

from __future__ import annotations

import filecmp
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipelines.training import cv_splits, evaluate
from pipelines.training.inputs import prepare
from tests.training.conftest import FAST_TRAINING, write_stage_inputs

pytestmark = pytest.mark.slow

OUTPUTS = (
    "model_bundle.json",
    "training.json",
    "oos_predictions.parquet",
    "cpcv_positions.parquet",
)


def _project(root: Path, data: dict[str, Any], cv_workers: int) -> Path:
    """The train stage's inputs as files, a fixed tuning result, and a params file."""
    root.mkdir()
    sections = {"training": FAST_TRAINING, "scale": {"cv_workers": cv_workers}}
    params = write_stage_inputs(root, data, **sections)
    tuning = {"best_params": {"learning_rate": 0.1, "num_leaves": 7}, "n_trials": 3}
    (root / "models/tuning.json").write_text(json.dumps(tuning))
    return params


def _pipelines(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_two_split_workers_give_the_bytes_of_one_process(
    tmp_path: Path, synthetic: dict[str, Any]
) -> None:
    one = _project(tmp_path / "one", synthetic, 1)
    two = _project(tmp_path / "two", synthetic, 2)

    single = _pipelines(one.parent, "--params", str(one), "train")
    fanned = _pipelines(two.parent, "--params", str(two), "train")

    assert single.returncode == 0, single.stderr[-3000:]
    assert fanned.returncode == 0, fanned.stderr[-3000:]
    for name in OUTPUTS:
        assert filecmp.cmp(one.parent / "models" / name, two.parent / "models" / name, False), name
    # 3 walk-forward folds, C(4, 2) = 6 CPCV splits: all trained by the two workers
    assert "walk-forward: 3 splits, 3 read from the workers" in fanned.stderr
    assert "cpcv: 6 splits, 6 read from the workers" in fanned.stderr
    assert "train-splits 0/2" in fanned.stderr and "train-splits 1/2" in fanned.stderr
    assert list((two.parent / ".cache/cv_splits").glob("*.npy")) == []


def test_a_kept_prediction_is_used_only_for_its_own_split_and_settings(
    tmp_path: Path, synthetic: dict[str, Any]
) -> None:
    params = synthetic["params"]
    prep = prepare(
        synthetic["store"], synthetic["metadata"], synthetic["labels"], synthetic["bars"], params
    )
    tp = params.training
    settings = (tp.model, tp.splits.validation_fraction, {})
    cache = cv_splits.SplitCache(tmp_path)
    wf = prep.walk_forward
    expected = evaluate.predict_splits(prep.ds, wf, *settings)
    kept = cache.compute(prep.ds, wf[0], *settings)  # what a worker leaves
    assert np.array_equal(kept, expected[0])
    marked = np.full_like(kept, 0.25)
    np.save(cache.path(prep.ds, wf[0], *settings), marked)

    got = cache(prep.ds, wf, *settings, "walk-forward")

    assert np.array_equal(got[0], marked), "the kept prediction is read, not retrained"
    assert all(np.array_equal(a, b) for a, b in zip(got[1:], expected[1:], strict=True))
    assert len(list(tmp_path.glob("*.npy"))) == 1, "splits trained here are not kept"
    other = {"num_leaves": 3}
    paths = {cache.path(prep.ds, s, tp.model, 0.15, {}) for s in wf}
    assert paths.isdisjoint({cache.path(prep.ds, s, tp.model, 0.15, other) for s in wf})
    assert len(paths) == len(wf)


def test_a_failed_split_worker_is_named(tmp_path: Path, synthetic: dict[str, Any]) -> None:
    params = _project(tmp_path / "broken", synthetic, 2)
    (params.parent / ".cache").write_text("a file where the workers' folder should go")

    done = _pipelines(params.parent, "--params", str(params), "train")

    assert done.returncode != 0
    assert "train: CV split worker 0/2 (exit 1), 1/2 (exit 1) failed" in done.stderr
