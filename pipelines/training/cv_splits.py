"""CV splits trained apart: each split's predictions kept by key, computed by several workers.

Walk-forward folds and CPCV splits are independent trainings. ``pipelines train-splits --worker
K/W`` trains every W-th split (from K) of both schemes and saves each split's out-of-sample
predictions under ``scale.cv_cache``, named by a key of everything they depend on (the dataset,
the split's rows, the model settings and the tuned parameters). The train stage then reads them
instead of training the splits itself, so its outputs are exactly those of one process: with
``scale.cv_workers`` above one it starts that many worker processes first (the same command the
cluster's training template fans out), and trains in-process any split still missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.config import Params
from pipelines.data import partitions
from pipelines.errors import DataError
from pipelines.io import atomic
from pipelines.io.workers import pipelines_argv, run_all
from pipelines.training import evaluate, splits
from pipelines.training import model as model_code
from pipelines.training.evaluate import Dataset
from pipelines.training.inputs import TUNING_FILE, Prepared, prepare, read_inputs, read_json_object
from pipelines.training.params import ModelParams

log = logging.getLogger(__name__)


def _code_digest() -> str:
    """Digest of the training code and LightGBM version a split's predictions come from."""
    import lightgbm

    digest = hashlib.sha256(lightgbm.__version__.encode())
    for module in (evaluate, model_code, splits):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


CODE = _code_digest()


def cpcv_splits(prep: Prepared, params: Params) -> list[splits.Split]:
    """The CPCV splits of the prepared dataset (as the train stage cuts them)."""
    sp = params.training.splits
    return splits.cpcv(
        prep.ds.start_pos,
        prep.ds.end_pos,
        len(prep.ds.times),
        sp.cpcv_groups,
        sp.cpcv_test_groups,
        prep.embargo,
    )


def dataset_digest(ds: Dataset) -> str:
    """Digest of the training matrix, target and time positions."""
    digest = hashlib.sha256(json.dumps(ds.feature_names).encode())
    for array in (ds.x, ds.y, ds.start_pos, ds.end_pos):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _predict(
    ds: Dataset, split: splits.Split, model: ModelParams, fraction: float, best: dict[str, Any]
) -> np.ndarray:
    booster = evaluate.train_rows(ds, split.train, model, fraction, best)
    return np.asarray(booster.predict(ds.x[split.test]), dtype="float64")


def _save(values: np.ndarray, path: Path) -> None:
    with path.open("wb") as handle:  # a path would get ".npy" appended to the temporary name
        np.save(handle, values, allow_pickle=False)


class SplitCache:
    """Split predictions on disk, keyed by what they depend on; a ``predict_splits`` stand-in."""

    def __init__(self, root: str | Path) -> None:
        """Keep predictions under ``root``."""
        self.root = Path(root)
        # by id, holding the dataset: a collected one's id could name another dataset later
        self._digests: dict[int, tuple[Dataset, str]] = {}

    def path(
        self,
        ds: Dataset,
        split: splits.Split,
        model: ModelParams,
        fraction: float,
        overrides: dict[str, Any],
    ) -> Path:
        """The file of one split's predictions: named by the dataset, split and settings."""
        if id(ds) not in self._digests:
            self._digests[id(ds)] = (ds, dataset_digest(ds))
        settings = [self._digests[id(ds)][1], CODE, model.model_dump(), fraction, overrides]
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
        digest.update(np.ascontiguousarray(split.train).tobytes())
        digest.update(b"|")
        digest.update(np.ascontiguousarray(split.test).tobytes())
        return self.root / f"{digest.hexdigest()[:32]}.npy"

    def compute(
        self,
        ds: Dataset,
        split: splits.Split,
        model: ModelParams,
        fraction: float,
        overrides: dict[str, Any],
    ) -> np.ndarray:
        """Train one split, save its predictions, and return them."""
        predictions = _predict(ds, split, model, fraction, overrides)
        target = self.path(ds, split, model, fraction, overrides)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_with(target, partial(_save, predictions))
        return predictions

    def __call__(
        self,
        ds: Dataset,
        split_list: list[splits.Split],
        model: ModelParams,
        fraction: float,
        overrides: dict[str, Any],
        name: str = "cv",
    ) -> list[np.ndarray]:
        """Every split's predictions: read when kept, trained here when not."""
        out, trained = [], 0
        for split in split_list:
            target = self.path(ds, split, model, fraction, overrides)
            if target.exists():
                out.append(np.load(target, allow_pickle=False))
            else:  # no worker left it: trained here (and not kept)
                out.append(_predict(ds, split, model, fraction, overrides))
                trained += 1
        log.info("%s: %d splits, %d read from the workers", name, len(out), len(out) - trained)
        return out

    def clear(self) -> None:
        """Remove every kept prediction (the stage has written its outputs from them)."""
        for kept in self.root.glob("*.npy"):
            kept.unlink()


def worker_main(params: Params, worker: str) -> int:
    """``pipelines train-splits --worker K/W``: train every W-th missing split from K."""
    index, count = partitions.parse(worker, "--worker")
    tuning = read_json_object(
        Path(params.paths.models) / TUNING_FILE, ("best_params",), "pipelines tune"
    )
    prep = prepare(*read_inputs(params), params)
    best = dict(tuning["best_params"])
    tp = params.training
    settings = (tp.model, tp.splits.validation_fraction, best)
    cache = SplitCache(params.scale.cv_cache)
    every = [*prep.walk_forward, *cpcv_splits(prep, params)]
    mine = [s for number, s in enumerate(every) if number % count == index]
    todo = [s for s in mine if not cache.path(prep.ds, s, *settings).exists()]
    for done, split in enumerate(todo, start=1):
        cache.compute(prep.ds, split, *settings)
        log.info("train-splits %d/%d: split %d of %d trained", index, count, done, len(todo))
    return 0


def fan_out(params: Params, params_path: Path) -> None:
    """Run ``scale.cv_workers`` worker processes over the splits; fail naming a failed one.

    Raises:
        DataError: A worker exited non-zero.
    """
    workers = params.scale.cv_workers
    shares = partitions.all_of(workers)
    log.info("train: CV splits in %d worker processes", workers)
    commands = [pipelines_argv(params_path, "train-splits", "--worker", s) for s in shares]
    codes = run_all(commands, workers)
    failed = [f"{s} (exit {c})" for s, c in zip(shares, codes, strict=True) if c != 0]
    if failed:
        raise DataError(f"train: CV split worker {', '.join(failed)} failed; see its log above")
