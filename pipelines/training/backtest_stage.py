"""Backtest stage: the out-of-sample positions through costs, slippage and next-bar application.

``run`` is pure (the train stage's positions, the bars and the tuning result in; metrics, the
full evaluation and the equity series out); ``main`` reads ``models/`` and the validated bars and
writes ``models/metrics.json`` (DVC metric), ``models/evaluation.json`` and
``models/plots/equity.csv`` (DVC plot). Positions are on the train stage's time grid: every
sample timestamp, which the CPCV paths cover in full and the walk-forward test blocks cover from
the first out-of-sample bar to the end.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import Params
from pipelines.errors import DataError
from pipelines.io import atomic
from pipelines.training import backtest, evaluate, metrics
from pipelines.training.inputs import TUNING_FILE, finite, read_json_object
from pipelines.training.train import CPCV_FILE, OOS_FILE, TRAINING_FILE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BacktestOutput:
    """Everything the stage writes."""

    metrics: dict[str, Any]
    evaluation: dict[str, Any]
    series: pd.DataFrame


def position_grid(
    frame: pd.DataFrame, times: pd.DatetimeIndex, instruments: pd.Index, what: str
) -> np.ndarray:
    """Long ``(timestamp, instrument, position)`` rows on the ``(times, instruments)`` grid.

    Raises:
        DataError: A row's timestamp or instrument is not on the grid.
    """
    rows = times.get_indexer(pd.DatetimeIndex(frame["timestamp"]))
    cols = instruments.get_indexer(pd.Index(frame["instrument"].astype(str)))
    if (rows < 0).any() or (cols < 0).any():
        raise DataError(f"{what}: rows off the training time grid or instrument list")
    grid = np.zeros((len(times), len(instruments)))
    grid[rows, cols] = frame["position"].to_numpy(dtype="float64")
    return grid


def _unique_times(stamps: pd.Series) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(stamps.unique()).sort_values()


def learning_facts(
    report: dict[str, Any],
    oos: pd.DataFrame,
    positions: np.ndarray,
    grid_returns: np.ndarray,
    trial_scores: np.ndarray,
) -> dict[str, Any]:
    """What the learned-something gate judges: trees, importance, spread, agreement, trials.

    ``baseline_agreement`` is the share of (bar, instrument) cells with a price where the
    out-of-sample position equals the naive baseline's (long); ``tuning_spread`` is the best
    minus the worst finite trial score (0 when all trials tie; None without two finite ones).
    """
    model = report.get("model") or {}
    traded = np.isfinite(grid_returns)
    agreement = float(np.mean(positions[traded] == 1.0)) if traded.any() else None
    scores = trial_scores[np.isfinite(trial_scores)]
    spread = float(scores.max() - scores.min()) if scores.size >= 2 else None
    predictions = oos["prediction"].to_numpy(dtype="float64")
    return {
        "trees": model.get("trees"),
        "importance_total": model.get("importance_total"),
        "prediction_std": finite(float(np.std(predictions))) if predictions.size else None,
        "baseline_agreement": agreement,
        "tuning_spread": spread,
    }


def run(
    oos: pd.DataFrame,
    cpcv: pd.DataFrame,
    bars: pd.DataFrame,
    report: dict[str, Any],
    tuning: dict[str, Any],
    params: Params,
) -> BacktestOutput:
    """Backtest the walk-forward and CPCV positions; compute the metrics.

    Args:
        oos: Walk-forward out-of-sample rows (timestamp, instrument, position).
        cpcv: CPCV path rows (path, timestamp, instrument, position).
        bars: The validated bars (their returns are what positions earn).
        report: The train stage's report (instruments, frequency, leakage, features, ...).
        tuning: The tune stage's output (``n_trials`` and every trial's score enter the DSR).
        params: All params.

    Raises:
        DataError: The walk-forward rows do not cover the grid from their first bar on.
    """
    bt = params.training.backtest
    try:
        ppy = metrics.periods_per_year(report["data"].get("annualisation"), bt.periods_per_year)
    except ValueError as exc:
        raise DataError(f"{TRAINING_FILE}: {exc}") from None
    cost = (bt.cost_bps + bt.slippage_bps) / 10_000.0
    times = _unique_times(cpcv["timestamp"])
    instruments = pd.Index([str(name) for name in report["data"]["instruments"]])
    oos_times = _unique_times(oos["timestamp"])
    first = int(times.searchsorted(oos_times[0])) if len(oos_times) else len(times)
    if len(oos_times) == 0 or not oos_times.equals(times[first:]):
        raise DataError(f"{OOS_FILE}: walk-forward rows do not cover the time grid to its end")
    wide = backtest.bar_returns(bars)
    wide.columns = wide.columns.astype(str)
    grid_returns = wide.reindex(index=times, columns=instruments).to_numpy(dtype="float64")

    positions = position_grid(oos, times, instruments, OOS_FILE)
    strategy = evaluate.run_portfolio(positions, grid_returns, cost, ppy, first)
    base_w = evaluate.baseline_weights(grid_returns)[first:]
    baseline = evaluate.run_weights(base_w, grid_returns[first:], cost, ppy)
    per_instrument = evaluate.per_instrument(positions, grid_returns, cost, ppy, first, instruments)
    log.info("backtest: walk-forward OOS %s", strategy.summary)
    path_sharpes = [
        evaluate.run_portfolio(
            position_grid(group, times, instruments, CPCV_FILE), grid_returns, cost, ppy
        ).summary["sharpe"]
        for _, group in cpcv.groupby("path", sort=True)
    ]
    trial_sr = np.asarray(
        [np.nan if t["value"] is None else t["value"] for t in tuning["trials"]], dtype="float64"
    )
    n_trials = int(tuning["n_trials"])
    dsr = metrics.deflated_sharpe(strategy.returns, trial_sr, n_trials)
    findings = list(report["leakage"]["findings"])
    learning = learning_facts(report, oos, positions[first:], grid_returns[first:], trial_sr)

    s = strategy.summary
    headline = {
        "sharpe": finite(s["sharpe"]),
        "psr": finite(s["psr"]),
        "dsr": finite(dsr),
        "max_drawdown": finite(s["max_drawdown"]),
        "win_rate": finite(s["win_rate"]),
        "total_pnl": finite(s["total_pnl"]),
        "annual_turnover": finite(s["annual_turnover"]),
        "baseline_naive_pnl": finite(baseline.summary["total_pnl"]),
        "baseline_naive_sharpe": finite(baseline.summary["sharpe"]),
        "cpcv_sharpe_mean": finite(float(np.nanmean(path_sharpes))),
        "cpcv_sharpe_std": finite(float(np.nanstd(path_sharpes, ddof=1))),
        "leakage_findings": len(findings),
        "n_trials": n_trials,
        **learning,
    }
    evaluation = {
        **{k: report[k] for k in ("leakage", "oos", "features", "feature_importance")},
        "metrics": headline,
        "strategy": {k: finite(v) for k, v in s.items()},
        "baseline_naive": {k: finite(v) for k, v in baseline.summary.items()},
        "per_instrument": {
            k: {m: finite(v) for m, v in row.items()} for k, row in per_instrument.items()
        },
        "cpcv_path_sharpes": [finite(v) for v in path_sharpes],
        "tuning": {
            "best_params": tuning["best_params"],
            "trial_sharpe_per_bar": [finite(v) for v in trial_sr],
        },
        "data": {**report["data"], "periods_per_year": ppy},
        "model": report.get("model"),
        "params_hash": report["params_hash"],
    }
    series = pd.DataFrame(
        {
            "timestamp": times[first:],
            "strategy": metrics.equity_curve(strategy.returns),
            "baseline": metrics.equity_curve(baseline.returns),
        }
    )
    return BacktestOutput(headline, evaluation, series)


def main(params: Params) -> int:
    """Read the train stage's outputs, the tuning result and the bars; run; write the metrics."""
    started = time.perf_counter()
    models = Path(params.paths.models)
    report = read_json_object(
        models / TRAINING_FILE,
        ("data", "leakage", "oos", "features", "feature_importance", "params_hash"),
        "pipelines train",
    )
    tuning = read_json_object(
        models / TUNING_FILE, ("best_params", "n_trials", "trials"), "pipelines tune"
    )
    frames = []
    for path, hint in (
        (models / OOS_FILE, "pipelines train"),
        (models / CPCV_FILE, "pipelines train"),
        (Path(params.paths.validated), "pipelines data validate"),
    ):
        if not path.exists():
            raise DataError(f"{path}: not found; run `{hint}` first")
        frames.append(pd.read_parquet(path))
    out = run(frames[0], frames[1], frames[2], report, tuning, params)
    atomic.write_json(models / "metrics.json", out.metrics)
    atomic.write_json(models / "evaluation.json", out.evaluation)
    equity = out.series.assign(timestamp=out.series["timestamp"].dt.strftime("%Y-%m-%d %H:%M"))
    atomic.write_text(models / "plots" / "equity.csv", equity.to_csv(index=False))
    log.info("backtest: metrics %s (%.1fs)", out.metrics, time.perf_counter() - started)
    return 0
