"""Training stage: tune, cross-validate without leakage, backtest out of sample, build the bundle.

``run`` is pure (frames in, results out); ``main`` reads the feature store, labels and bars and
writes ``models/``: the bundle, headline metrics, the full evaluation, the out-of-sample series.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import Params
from pipelines.data.features import CROSS_SECTIONAL_PREFIX, compute_features
from pipelines.data.store import read_store
from pipelines.errors import DataError
from pipelines.io import atomic
from pipelines.registry.bundle import PositionRule, bundle_payload, save_bundle
from pipelines.training import evaluate, leakage, metrics, splits
from pipelines.training.leakage import FeatureFn
from pipelines.training.tune import tune

log = logging.getLogger(__name__)


def select_features(names: list[str], use_cross_sectional: bool) -> list[str]:
    """The model's features: cross-sectional ranks only when enabled."""
    return [n for n in names if use_cross_sectional or not n.startswith(CROSS_SECTIONAL_PREFIX)]


def params_hash(params: Params) -> str:
    """sha256 of the training, feature and label params (canonical JSON)."""
    blob = {
        "training": params.training.model_dump(),
        "features": params.features.model_dump(),
        "label": params.label.model_dump(),
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class TrainingOutput:
    """Everything the stage writes."""

    bundle: dict[str, Any]
    metrics: dict[str, Any]
    evaluation: dict[str, Any]
    series: pd.DataFrame
    oos: pd.DataFrame


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def run(
    store: pd.DataFrame,
    metadata: dict[str, Any],
    labels: pd.DataFrame,
    bars: pd.DataFrame,
    params: Params,
    feature_fn: FeatureFn | None = None,
) -> TrainingOutput:
    """Tune, evaluate with purged walk-forward and CPCV, check leakage and fit the final model.

    Args:
        store: Feature store frame.
        metadata: Feature store metadata (features, label horizon, frequency, input hash).
        labels: Labels with ``label_end``.
        bars: The validated bars the store was built from (returns, truncation re-run).
        params: All params.
        feature_fn: Feature code for the truncation re-run (default: the project's own).
    """
    tp = params.training
    horizon = int(metadata.get("label_horizon", params.label.horizon))
    frequency = str(metadata.get("frequency", params.data.frequency))
    ppy = metrics.periods_per_year(frequency, tp.backtest.market, tp.backtest.periods_per_year)
    cost = (tp.backtest.cost_bps + tp.backtest.slippage_bps) / 10_000.0
    rule = PositionRule(tp.backtest.threshold, tp.backtest.long_only)
    objective = tp.model.objective
    names = select_features(list(metadata["features"]), tp.use_cross_sectional)
    ds = evaluate.build_dataset(store, labels, names, objective)
    n_times = len(ds.times)
    embargo = horizon if tp.splits.embargo_bars is None else tp.splits.embargo_bars
    grid_returns = evaluate.returns_grid(bars, ds)

    wf = splits.walk_forward(
        ds.start_pos, ds.end_pos, n_times, tp.splits.walk_forward_folds, embargo
    )
    first_test = wf[0].blocks[0][0]

    def trial(overrides: dict[str, Any]) -> float:
        region_end = first_test - 1
        cut = int(region_end * 0.7)
        block = ((cut, region_end),)
        keep = splits.keep_for_training(ds.start_pos, ds.end_pos, block, embargo)
        rows = np.flatnonzero(keep & (ds.start_pos < cut))
        test = np.flatnonzero((ds.start_pos >= cut) & (ds.start_pos <= region_end))
        booster = evaluate.train_rows(ds, rows, tp.model, tp.splits.validation_fraction, overrides)
        pos = evaluate.position_grid(ds, test, booster.predict(ds.x[test]), objective, rule)
        bt = evaluate.run_portfolio(
            pos[: region_end + 1], grid_returns[: region_end + 1], cost, 1.0, cut
        )
        return float(bt.summary["sharpe"])

    tuning = tune(trial, tp.tuning)
    best = tuning.best_params
    log.info("train: best params %s", best)

    wf_preds = evaluate.predict_splits(
        ds, wf, tp.model, tp.splits.validation_fraction, best, "walk-forward"
    )
    wf_rows = np.concatenate([s.test for s in wf])
    wf_pred = np.concatenate(wf_preds)
    positions = evaluate.position_grid(ds, wf_rows, wf_pred, objective, rule)
    strategy = evaluate.run_portfolio(positions, grid_returns, cost, ppy, first_test)
    base_w = evaluate.baseline_weights(grid_returns)[first_test:]
    baseline = evaluate.run_weights(base_w, grid_returns[first_test:], cost, ppy)
    instruments = evaluate.per_instrument(
        positions, grid_returns, cost, ppy, first_test, ds.instruments
    )
    log.info("train: walk-forward OOS %s", strategy.summary)

    cp = splits.cpcv(
        ds.start_pos,
        ds.end_pos,
        n_times,
        tp.splits.cpcv_groups,
        tp.splits.cpcv_test_groups,
        embargo,
    )
    cp_preds = evaluate.predict_splits(
        ds, cp, tp.model, tp.splits.validation_fraction, best, "cpcv"
    )
    group_of = np.searchsorted(
        [b[1] for b in splits.block_bounds(n_times, tp.splits.cpcv_groups)], ds.start_pos
    )
    path_sharpes = []
    for path in splits.cpcv_paths(tp.splits.cpcv_groups, tp.splits.cpcv_test_groups):
        rows_parts, pred_parts = [], []
        for split_index, group in path:
            in_group = group_of[cp[split_index].test] == group
            rows_parts.append(cp[split_index].test[in_group])
            pred_parts.append(cp_preds[split_index][in_group])
        pos = evaluate.position_grid(
            ds, np.concatenate(rows_parts), np.concatenate(pred_parts), objective, rule
        )
        path_sharpes.append(evaluate.run_portfolio(pos, grid_returns, cost, ppy).summary["sharpe"])

    trial_sr = np.asarray(tuning.trial_values, dtype="float64")
    dsr = metrics.deflated_sharpe(strategy.returns, trial_sr, tuning.n_trials)

    truncation_fn = feature_fn or partial(compute_features, params=params.features)
    sample_times = leakage.sample_timestamps(
        ds.times, tp.leakage.truncation_samples, tp.leakage.seed, min_position=n_times // 10
    )
    sample_start = pd.DatetimeIndex(ds.frame["timestamp"])
    sample_end = pd.DatetimeIndex(ds.frame["label_end"])
    findings = (
        leakage.check_embargo(embargo, horizon)
        + leakage.check_splits("walk_forward", wf, sample_start, sample_end, ds.times, embargo)
        + leakage.check_splits("cpcv", cp, sample_start, sample_end, ds.times, embargo)
        + leakage.check_label_columns(
            ds.frame, names, ds.frame["fwd_return"], tp.leakage.max_abs_label_correlation
        )
        + leakage.check_truncation(
            bars, store, names, truncation_fn, sample_times, tp.leakage.truncation_tolerance
        )
    )
    for finding in findings:
        log.warning("leakage: %s", finding)

    final = evaluate.train_rows(
        ds, np.arange(len(ds.frame)), tp.model, tp.splits.validation_fraction, best
    )
    rng = np.random.default_rng(tp.model.seed)
    ref_rows = np.sort(
        rng.choice(len(ds.frame), size=min(tp.reference_rows, len(ds.frame)), replace=False)
    )
    oos_start, oos_end = ds.times[first_test], ds.times[-1]
    bundle = bundle_payload(
        final,
        names,
        params.features,
        objective,
        horizon,
        frequency,
        rule,
        metadata={
            "model_name": tp.model_name,
            "data_sha256": metadata.get("input_sha256"),
            "params_hash": params_hash(params),
            "best_params": best,
            "n_trials": tuning.n_trials,
            "train_span": [str(ds.times[0]), str(ds.times[-1])],
        },
        reference=ds.frame.iloc[ref_rows][names].reset_index(drop=True),
    )
    s = strategy.summary
    headline = {
        "sharpe": _finite(s["sharpe"]),
        "psr": _finite(s["psr"]),
        "dsr": _finite(dsr),
        "max_drawdown": _finite(s["max_drawdown"]),
        "win_rate": _finite(s["win_rate"]),
        "total_pnl": _finite(s["total_pnl"]),
        "annual_turnover": _finite(s["annual_turnover"]),
        "baseline_naive_pnl": _finite(baseline.summary["total_pnl"]),
        "baseline_naive_sharpe": _finite(baseline.summary["sharpe"]),
        "cpcv_sharpe_mean": _finite(float(np.nanmean(path_sharpes))),
        "cpcv_sharpe_std": _finite(float(np.nanstd(path_sharpes, ddof=1))),
        "leakage_findings": len(findings),
        "n_trials": tuning.n_trials,
    }
    evaluation = {
        "metrics": headline,
        "strategy": {k: _finite(v) for k, v in s.items()},
        "baseline_naive": {k: _finite(v) for k, v in baseline.summary.items()},
        "per_instrument": {
            k: {m: _finite(v) for m, v in row.items()} for k, row in instruments.items()
        },
        "cpcv_path_sharpes": [_finite(v) for v in path_sharpes],
        "tuning": {"best_params": best, "trial_sharpe_per_bar": [_finite(v) for v in trial_sr]},
        "leakage": {"findings": findings, "truncation_times": [str(t) for t in sample_times]},
        "oos": {"start": str(oos_start), "end": str(oos_end)},
        "features": names,
        "feature_importance": dict(
            zip(names, final.feature_importance("gain").astype(float).tolist(), strict=True)
        ),
        "data": {
            "sha256": metadata.get("input_sha256"),
            "start": str(ds.times[0]),
            "end": str(ds.times[-1]),
            "rows": len(ds.frame),
            "instruments": ds.instruments.tolist(),
            "frequency": frequency,
            "periods_per_year": ppy,
            "label_horizon": horizon,
            "embargo_bars": embargo,
        },
        "params_hash": params_hash(params),
    }
    series = pd.DataFrame(
        {
            "timestamp": ds.times[first_test:],
            "strategy": metrics.equity_curve(strategy.returns),
            "baseline": metrics.equity_curve(baseline.returns),
        }
    )
    oos = ds.frame.iloc[wf_rows][["timestamp", "instrument"]].reset_index(drop=True)
    oos["prediction"] = wf_pred
    return TrainingOutput(bundle, headline, evaluation, series, oos)


def main(params: Params) -> int:
    """Read the store, labels and bars; run; write ``models/``."""
    started = time.perf_counter()
    labels_path, bars_path = Path(params.paths.labels), Path(params.paths.validated)
    for path in (labels_path, bars_path):
        if not path.exists():
            raise DataError(f"{path}: not found; run `pipelines data features` first")
    store, metadata = read_store(params.paths.features)
    out = run(store, metadata, pd.read_parquet(labels_path), pd.read_parquet(bars_path), params)
    models = Path(params.paths.models)
    digest = save_bundle(out.bundle, models / "model_bundle.json")
    atomic.write_json(models / "metrics.json", out.metrics)
    atomic.write_json(models / "evaluation.json", out.evaluation)
    equity = out.series.assign(timestamp=out.series["timestamp"].dt.strftime("%Y-%m-%d %H:%M"))
    atomic.write_text(models / "plots" / "equity.csv", equity.to_csv(index=False))
    atomic.write_with(
        models / "oos_predictions.parquet",
        lambda tmp: out.oos.to_parquet(tmp, index=False, engine="pyarrow"),
    )
    log.info(
        "train: bundle sha256 %s, metrics %s (%.1fs)",
        digest,
        out.metrics,
        time.perf_counter() - started,
    )
    return 0
