"""Out-of-sample evaluation: samples, split predictions, strategy backtests (no I/O)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.registry.bundle import Objective, PositionRule, rule_positions
from pipelines.training import backtest, metrics
from pipelines.training.model import fit
from pipelines.training.params import ModelParams
from pipelines.training.splits import Split, inner_validation, time_positions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dataset:
    """Samples sorted by time then instrument, with their matrix, target and time positions."""

    frame: pd.DataFrame
    feature_names: list[str]
    x: np.ndarray
    y: np.ndarray
    start_pos: np.ndarray
    end_pos: np.ndarray
    times: pd.DatetimeIndex
    instruments: pd.Index


def build_dataset(
    features: pd.DataFrame, labels: pd.DataFrame, feature_names: list[str], objective: Objective
) -> Dataset:
    """Join features with labels (rows without a label are dropped) and index time."""
    frame = features.merge(labels, on=["timestamp", "instrument"], how="inner", validate="1:1")
    frame = frame.sort_values(["timestamp", "instrument"], kind="mergesort").reset_index(drop=True)
    start, end, times = time_positions(frame["timestamp"], frame["label_end"])
    target = frame["label_sign"] if objective == "binary" else frame["fwd_return"]
    return Dataset(
        frame=frame,
        feature_names=feature_names,
        x=frame[feature_names].to_numpy(dtype="float64"),
        y=target.to_numpy(dtype="float64"),
        start_pos=start,
        end_pos=end,
        times=times,
        instruments=pd.Index(sorted(frame["instrument"].astype(str).unique())),
    )


def train_rows(
    ds: Dataset, rows: np.ndarray, model: ModelParams, fraction: float, overrides: dict[str, Any]
) -> Any:
    """Train on ``rows`` with early stopping on their latest, purged ``fraction`` of time."""
    fit_rows, val_rows = inner_validation(rows, ds.start_pos, ds.end_pos, fraction)
    return fit(ds.x, ds.y, fit_rows, val_rows, model, ds.feature_names, overrides)


def predict_splits(
    ds: Dataset,
    splits: list[Split],
    model: ModelParams,
    fraction: float,
    overrides: dict[str, Any],
    name: str = "cv",
) -> list[np.ndarray]:
    """Out-of-sample predictions of each split's test rows (same order as ``split.test``)."""
    out = []
    for index, split in enumerate(splits, start=1):
        booster = train_rows(ds, split.train, model, fraction, overrides)
        out.append(np.asarray(booster.predict(ds.x[split.test]), dtype="float64"))
        log.info(
            "%s: split %d/%d trained on %d rows (%d trees), tested on %d",
            name,
            index,
            len(splits),
            split.train.size,
            booster.num_trees(),
            split.test.size,
        )
    return out


def returns_grid(bars: pd.DataFrame, ds: Dataset) -> np.ndarray:
    """Bar returns on the samples' time grid, ``(len(times), n_instruments)``."""
    wide = backtest.bar_returns(bars)
    wide.columns = wide.columns.astype(str)
    return wide.reindex(index=ds.times, columns=ds.instruments).to_numpy(dtype="float64")


def position_grid(
    ds: Dataset, rows: np.ndarray, predictions: np.ndarray, objective: Objective, rule: PositionRule
) -> np.ndarray:
    """Positions in {-1, 0, 1} on the time grid from predictions of ``rows`` (0 elsewhere)."""
    grid = np.zeros((len(ds.times), len(ds.instruments)))
    cols = ds.instruments.get_indexer(ds.frame["instrument"].to_numpy()[rows])
    grid[ds.start_pos[rows], cols] = rule_positions(predictions, objective, rule)
    return grid


@dataclass(frozen=True)
class Backtest:
    """A portfolio backtest over a slice of the time grid."""

    returns: np.ndarray
    turnover: np.ndarray
    exposure: np.ndarray
    summary: dict[str, float]


def run_portfolio(
    positions: np.ndarray, grid_returns: np.ndarray, cost: float, ppy: float, first: int = 0
) -> Backtest:
    """Equal-weight portfolio (each instrument 1/N of equity) over bars ``first`` onwards."""
    weights = positions[first:] / positions.shape[1]
    result = backtest.simulate(weights, grid_returns[first:], cost)
    return Backtest(
        result.returns,
        result.turnover,
        result.exposure,
        metrics.summary(result.returns, result.exposure, result.turnover, ppy),
    )


def per_instrument(
    positions: np.ndarray,
    grid_returns: np.ndarray,
    cost: float,
    ppy: float,
    first: int,
    names: pd.Index,
) -> dict[str, dict[str, float]]:
    """Each instrument traded alone at full weight (same rule and costs)."""
    result = backtest.simulate(positions[first:], grid_returns[first:], cost, per_column=True)
    return {
        str(name): metrics.summary(
            result.returns[:, j], result.exposure[:, j], result.turnover[:, j], ppy
        )
        for j, name in enumerate(names)
    }


def baseline_weights(grid_returns: np.ndarray) -> np.ndarray:
    """Equal-weight long book on the grid (the declared naive baseline)."""
    return backtest.equal_weight_long(grid_returns)


def run_weights(weights: np.ndarray, grid_returns: np.ndarray, cost: float, ppy: float) -> Backtest:
    """Backtest explicit weights (already sliced to the evaluation period)."""
    result = backtest.simulate(weights, grid_returns, cost)
    return Backtest(
        result.returns,
        result.turnover,
        result.exposure,
        metrics.summary(result.returns, result.exposure, result.turnover, ppy),
    )
