"""Train stage: purged CV with the tuned params, leakage checks, the final model and its bundle.

``run`` is pure (frames in, results out); ``main`` reads the feature store, labels, bars and
``models/tuning.json`` and writes ``models/``: the bundle, the training report, and the
out-of-sample positions (walk-forward and every CPCV path) that the backtest stage evaluates.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import Params
from pipelines.data import events as events_table
from pipelines.data.event_features import EventInput, available_by
from pipelines.data.features import compute_features
from pipelines.data.params import FeatureParams
from pipelines.errors import DataError
from pipelines.io import atomic
from pipelines.registry.bundle import (
    Objective,
    PositionRule,
    bundle_payload,
    rule_positions,
    save_bundle,
)
from pipelines.training import cv_splits, evaluate, leakage, reference, splits
from pipelines.training.evaluate import Dataset
from pipelines.training.inputs import TUNING_FILE, prepare, read_inputs, read_json_object
from pipelines.training.leakage import FeatureFn
from pipelines.training.params import ModelParams

log = logging.getLogger(__name__)

SplitPredictor = Callable[
    [Dataset, list[splits.Split], ModelParams, float, dict[str, Any], str], list[np.ndarray]
]

TRAINING_FILE = "training.json"
OOS_FILE = "oos_predictions.parquet"
CPCV_FILE = "cpcv_positions.parquet"


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
    """Everything the stage writes.

    Attributes:
        bundle: The model bundle payload.
        report: Training facts for the evaluation: leakage, features, importance, data, OOS span.
        oos: Walk-forward out-of-sample rows: timestamp, instrument, prediction, position.
        cpcv: CPCV backtest paths: path, timestamp, instrument, position.
    """

    bundle: dict[str, Any]
    report: dict[str, Any]
    oos: pd.DataFrame
    cpcv: pd.DataFrame


def run(
    store: pd.DataFrame,
    metadata: dict[str, Any],
    labels: pd.DataFrame,
    bars: pd.DataFrame,
    params: Params,
    tuning: dict[str, Any],
    feature_fn: FeatureFn | None = None,
    events: EventInput | None = None,
    predict: SplitPredictor = evaluate.predict_splits,
) -> TrainingOutput:
    """Predict out of sample (purged walk-forward and CPCV), check leakage, fit the final model.

    Args:
        store: Feature store frame.
        metadata: Feature store metadata (features, label horizon, frequency, input hash).
        labels: Labels with ``label_end``.
        bars: The validated bars the store was built from (truncation re-run).
        params: All params.
        tuning: The tune stage's output (``best_params``, ``n_trials``).
        feature_fn: Feature code for the truncation re-run (default: the project's own, with
            the news events available when the truncated bars' latest bar closed).
        events: News events and calendars, when the event features are on.
        predict: Trains the splits and predicts their test rows (default: here, in turn; the
            stage passes a :class:`~pipelines.training.cv_splits.SplitCache` that reads what
            the split workers left).
    """
    tp = params.training
    prep = prepare(store, metadata, labels, bars, params)
    ds, names, embargo, horizon = prep.ds, prep.names, prep.embargo, prep.horizon
    objective, rule, wf, first_test = (
        tp.model.objective,
        prep.rule,
        prep.walk_forward,
        prep.first_test,
    )
    n_times = len(ds.times)
    best = dict(tuning["best_params"])

    wf_preds = predict(ds, wf, tp.model, tp.splits.validation_fraction, best, "walk-forward")
    wf_rows = np.concatenate([s.test for s in wf])
    wf_pred = np.concatenate(wf_preds)

    cp = cv_splits.cpcv_splits(prep, params)
    cp_preds = predict(ds, cp, tp.model, tp.splits.validation_fraction, best, "cpcv")
    group_of = np.searchsorted(
        [b[1] for b in splits.block_bounds(n_times, tp.splits.cpcv_groups)], ds.start_pos
    )
    path_frames = []
    for number, path in enumerate(
        splits.cpcv_paths(tp.splits.cpcv_groups, tp.splits.cpcv_test_groups)
    ):
        rows_parts, pred_parts = [], []
        for split_index, group in path:
            in_group = group_of[cp[split_index].test] == group
            rows_parts.append(cp[split_index].test[in_group])
            pred_parts.append(cp_preds[split_index][in_group])
        path_frames.append(
            _positions(ds, np.concatenate(rows_parts), np.concatenate(pred_parts), objective, rule)
            .drop(columns="prediction")
            .assign(path=np.int16(number))
        )

    truncation_fn = feature_fn or partial(truncated_features, params=params.features, events=events)
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
    ref_rows = reference.recent_rows(
        ds.start_pos, tp.reference_window_bars, tp.reference_rows, tp.model.seed
    )
    bundle = bundle_payload(
        final,
        names,
        params.features,
        objective,
        horizon,
        prep.frequency,
        rule,
        metadata={
            "model_name": tp.model_name,
            "data_sha256": metadata.get("input_sha256"),
            "params_hash": params_hash(params),
            "best_params": best,
            "n_trials": int(tuning["n_trials"]),
            "train_span": [str(ds.times[0]), str(ds.times[-1])],
            "reference": reference.reference_summary(ds.frame, ref_rows, tp.reference_window_bars),
            "prediction_power": reference.backtest_prediction_power(
                ds.frame, wf_rows, wf_pred, objective
            ),
            "psi_limits": reference.psi_limits(ds.frame, ds.start_pos, names, params),
        },
        reference=ds.frame.iloc[ref_rows][names].reset_index(drop=True),
    )
    gain = final.feature_importance("gain").astype(float)
    report = {
        "leakage": {"findings": findings, "truncation_times": [str(t) for t in sample_times]},
        "model": {"trees": int(final.num_trees()), "importance_total": float(gain.sum())},
        "oos": {"start": str(ds.times[first_test]), "end": str(ds.times[-1])},
        "features": names,
        "feature_importance": dict(zip(names, gain.tolist(), strict=True)),
        "data": {
            "sha256": metadata.get("input_sha256"),
            "start": str(ds.times[0]),
            "end": str(ds.times[-1]),
            "rows": len(ds.frame),
            "instruments": ds.instruments.tolist(),
            "frequency": prep.frequency,
            "label_horizon": horizon,
            "embargo_bars": embargo,
            "annualisation": metadata.get("annualisation"),
            "calendars": metadata.get("calendars"),
            "events": metadata.get("events"),
        },
        "params_hash": params_hash(params),
    }
    oos = _positions(ds, wf_rows, wf_pred, objective, rule)
    return TrainingOutput(bundle, report, oos, pd.concat(path_frames, ignore_index=True))


def truncated_features(
    bars: pd.DataFrame, params: FeatureParams, events: EventInput | None
) -> pd.DataFrame:
    """Features of truncated bars, seeing only the events available by their latest close."""
    if events is None or not params.events.enabled:
        return compute_features(bars, params)
    return compute_features(bars, params, available_by(bars, events, params.events))


def event_input(params: Params, metadata: dict[str, Any]) -> EventInput | None:
    """The stored events and the store's calendars, when the event features are on."""
    if not params.features.events.enabled:
        return None
    stored = events_table.read_stored(params.paths.events)
    return EventInput(stored, dict(metadata.get("calendars") or {}), params.data.frequency)


def _positions(
    ds: Dataset, rows: np.ndarray, predictions: np.ndarray, objective: Objective, rule: PositionRule
) -> pd.DataFrame:
    """Predictions of ``rows`` with the rule's position (applied from the next bar)."""
    frame = ds.frame.iloc[rows][["timestamp", "instrument"]].reset_index(drop=True)
    frame["prediction"] = predictions
    frame["position"] = rule_positions(predictions, objective, rule).astype("int8")
    return frame


def _write_parquet(frame: pd.DataFrame, target: Path) -> None:
    frame.to_parquet(target, index=False, engine="pyarrow")


def main(params: Params, params_path: Path | None = None) -> int:
    """Read the store, labels, bars and tuning result; run; write ``models/``.

    With ``scale.cv_workers`` above one, that many ``pipelines train-splits`` processes train
    the CV splits first (``params_path`` is their params file). Predictions found in
    ``scale.cv_cache`` for this dataset and these settings (left by those processes, or by the
    cluster's split pods) are read; any other split is trained here.
    """
    started = time.perf_counter()
    models = Path(params.paths.models)
    tuning = read_json_object(models / TUNING_FILE, ("best_params", "n_trials"), "pipelines tune")
    if not isinstance(tuning["best_params"], dict) or not isinstance(tuning["n_trials"], int):
        raise DataError(
            f"{models / TUNING_FILE}: expected best_params an object and n_trials an integer"
        )
    store, metadata, labels, bars = read_inputs(params)
    events = event_input(params, metadata)
    if params.scale.cv_workers > 1 and params_path is not None:
        cv_splits.fan_out(params, params_path)
    # Splits the workers (these processes, or the cluster's pods) left are read, not trained.
    cache = cv_splits.SplitCache(params.scale.cv_cache)
    out = run(store, metadata, labels, bars, params, tuning, events=events, predict=cache)
    cache.clear()
    digest = save_bundle(out.bundle, models / "model_bundle.json")
    atomic.write_json(models / TRAINING_FILE, out.report)
    for name, frame in ((OOS_FILE, out.oos), (CPCV_FILE, out.cpcv)):
        atomic.write_with(models / name, partial(_write_parquet, frame))
    log.info(
        "train: bundle sha256 %s, %d leakage finding(s) (%.1fs)",
        digest,
        len(out.report["leakage"]["findings"]),
        time.perf_counter() - started,
    )
    return 0
