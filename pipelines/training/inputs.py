"""What the tune and train stages share: their inputs, read once, and the prepared dataset.

``prepare`` is pure (frames in, the dataset, time grid and walk-forward splits out); the
``read_*`` helpers are the I/O edge both stages call.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import Params
from pipelines.data.features import CROSS_SECTIONAL_PREFIX
from pipelines.data.store import read_store
from pipelines.errors import DataError
from pipelines.registry.bundle import PositionRule
from pipelines.training import evaluate, splits
from pipelines.training.evaluate import Dataset

TUNING_FILE = "tuning.json"


def select_features(names: list[str], use_cross_sectional: bool) -> list[str]:
    """The model's features: cross-sectional ranks only when enabled."""
    return [n for n in names if use_cross_sectional or not n.startswith(CROSS_SECTIONAL_PREFIX)]


@dataclass(frozen=True)
class Prepared:
    """The dataset on its time grid, with the walk-forward splits and the trading rule."""

    ds: Dataset
    names: list[str]
    horizon: int
    frequency: str
    embargo: int
    grid_returns: np.ndarray
    walk_forward: list[splits.Split]
    first_test: int
    cost: float
    rule: PositionRule


def prepare(
    store: pd.DataFrame,
    metadata: dict[str, Any],
    labels: pd.DataFrame,
    bars: pd.DataFrame,
    params: Params,
) -> Prepared:
    """Join features and labels, map them to the time grid and cut the walk-forward splits.

    Args:
        store: Feature store frame.
        metadata: Feature store metadata (features, label horizon, frequency, input hash).
        labels: Labels with ``label_end``.
        bars: The validated bars the store was built from (bar returns on the grid).
        params: All params.
    """
    tp = params.training
    horizon = int(metadata.get("label_horizon", params.label.horizon))
    names = select_features(list(metadata["features"]), tp.use_cross_sectional)
    ds = evaluate.build_dataset(store, labels, names, tp.model.objective)
    embargo = horizon if tp.splits.embargo_bars is None else tp.splits.embargo_bars
    enough_data(ds, {"the whole data set": len(ds.frame)}, params)
    wf = splits.walk_forward(
        ds.start_pos, ds.end_pos, len(ds.times), tp.splits.walk_forward_folds, embargo
    )
    first_test = wf[0].blocks[0][0]
    tuning, _ = tuning_rows(ds, first_test, embargo)
    sizes = {"the tuning block": int(tuning.size)}
    sizes |= {f"walk-forward fold {i}": int(s.train.size) for i, s in enumerate(wf, start=1)}
    enough_data(ds, sizes, params)
    return Prepared(
        ds=ds,
        names=names,
        horizon=horizon,
        frequency=str(metadata.get("frequency", params.data.frequency)),
        embargo=embargo,
        grid_returns=evaluate.returns_grid(bars, ds),
        walk_forward=wf,
        first_test=wf[0].blocks[0][0],
        cost=(tp.backtest.cost_bps + tp.backtest.slippage_bps) / 10_000.0,
        rule=PositionRule(tp.backtest.threshold, tp.backtest.long_only),
    )


def tuning_rows(ds: Dataset, first_test: int, embargo: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and scoring rows of the tuning objective: the first block, 70% / 30%, purged."""
    region_end = first_test - 1
    cut = int(region_end * 0.7)
    keep = splits.keep_for_training(ds.start_pos, ds.end_pos, ((cut, region_end),), embargo)
    rows = np.flatnonzero(keep & (ds.start_pos < cut))
    test = np.flatnonzero((ds.start_pos >= cut) & (ds.start_pos <= region_end))
    return rows, test


def enough_data(ds: Dataset, sizes: dict[str, int], params: Params) -> None:
    """Refuse, in one line, data too small for every training set to split once.

    A LightGBM split needs ``min_data_in_leaf`` rows on each side, and early stopping takes
    ``validation_fraction`` of a training set's time, so each training set needs
    ``2 * min_data_in_leaf / (1 - validation_fraction)`` rows.

    Raises:
        DataError: The smallest training set is below that.
    """
    model, sp = params.training.model, params.training.splits
    need = math.ceil(2 * model.min_data_in_leaf / (1.0 - sp.validation_fraction))
    which, smallest = min(sizes.items(), key=lambda item: item[1])
    blocks = max(sp.walk_forward_folds + 1, sp.cpcv_groups)
    if smallest >= need and len(ds.times) >= 2 * blocks:
        return
    raise DataError(
        f"{params.paths.features}: too little data to train: {len(ds.frame)} samples "
        f"({len(ds.instruments)} instrument(s) x {len(ds.times)} bars); {which} has {smallest} "
        f"rows but each training set needs {need} (2 x training.model.min_data_in_leaf="
        f"{model.min_data_in_leaf} / (1 - training.splits.validation_fraction="
        f"{sp.validation_fraction:g})) and the time is cut in training.splits.walk_forward_folds"
        f"={sp.walk_forward_folds} + 1 blocks (at least 2 bars each); add data or lower those "
        "params"
    )


def read_inputs(params: Params) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """The feature store, its metadata, the labels and the validated bars.

    Raises:
        DataError: An input is missing.
    """
    labels_path, bars_path = Path(params.paths.labels), Path(params.paths.validated)
    for path in (labels_path, bars_path):
        if not path.exists():
            raise DataError(f"{path}: not found; run `pipelines data features` first")
    store, metadata = read_store(params.paths.features)
    return store, metadata, pd.read_parquet(labels_path), pd.read_parquet(bars_path)


def read_json_object(path: Path, needed: tuple[str, ...], hint: str) -> dict[str, Any]:
    """A JSON object with the ``needed`` keys.

    Raises:
        DataError: Missing file, invalid JSON, not an object or a key missing.
    """
    if not path.exists():
        raise DataError(f"{path}: not found; run `{hint}` first")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise DataError(f"{path}: expected a JSON object")
    missing = [key for key in needed if key not in value]
    if missing:
        raise DataError(f"{path}: missing key(s) {missing}")
    return value


def finite(value: float | None) -> float | None:
    """A float for JSON: None for NaN, infinity or None (JSON has no NaN)."""
    return float(value) if value is not None and math.isfinite(value) else None
