"""Feature importance tracking: how the deployed model uses each feature now vs in training.

Importance here is the mean absolute SHAP value of each feature (LightGBM's exact TreeSHAP,
``pred_contrib=True``) over a sample of rows: on the live window and on the training reference.
It needs no labels, so it moves as soon as the inputs move the model's attention. The figure is
the Spearman rank correlation of the two importance vectors (1: the same order, low: the model
now leans on other features); the report lists the features whose rank moved most. At most
``max_rows`` evenly spaced rows of each side are explained (cost grows with rows x trees).
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy import stats

from pipelines.monitoring.checks import CheckResult, judged, no_verdict
from pipelines.monitoring.params import ImportanceParams


def evenly_spaced(frame: pd.DataFrame, max_rows: int) -> pd.DataFrame:
    """At most ``max_rows`` rows spread evenly over the frame (deterministic)."""
    if len(frame) <= max_rows:
        return frame
    picks = np.linspace(0, len(frame) - 1, max_rows).round().astype(int)
    return frame.iloc[np.unique(picks)]


def mean_abs_shap(booster: lgb.Booster, frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """Mean |SHAP| of each feature over the rows of ``frame`` (NaN inputs are allowed)."""
    matrix = frame[features].to_numpy(dtype="float64", na_value=np.nan)
    contrib = np.asarray(booster.predict(matrix, pred_contrib=True), dtype="float64")
    return np.abs(contrib[:, : len(features)]).mean(axis=0)


def shares(values: np.ndarray) -> np.ndarray:
    """Importances as shares of their sum (zeros when all are zero)."""
    total = float(values.sum())
    return values / total if total > 0 else np.zeros_like(values)


def importance(
    booster: lgb.Booster,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: list[str],
    limits: ImportanceParams,
) -> CheckResult:
    """Rank correlation of live against reference importance, and the movers."""
    if len(features) < 2 or current.empty or reference.empty:
        return no_verdict("importance", limits, "too few features or rows to rank", {})
    ref = shares(mean_abs_shap(booster, evenly_spaced(reference, limits.max_rows), features))
    live = shares(mean_abs_shap(booster, evenly_spaced(current, limits.max_rows), features))
    value = float(stats.spearmanr(ref, live).statistic)
    if not np.any(ref) or not np.any(live):
        value = float("nan")
    ref_rank = stats.rankdata(-ref, method="min").astype(int)
    live_rank = stats.rankdata(-live, method="min").astype(int)
    moved = np.argsort(-np.abs(ref_rank - live_rank), kind="stable")[: limits.top_movers]
    movers = [
        {
            "feature": features[i],
            "reference_rank": int(ref_rank[i]),
            "live_rank": int(live_rank[i]),
            "reference_share": float(ref[i]),
            "live_share": float(live[i]),
        }
        for i in moved
        if ref_rank[i] != live_rank[i]
    ]
    top = features[int(np.argmax(live))]
    verdict = f"rank correlation of mean |SHAP| live vs training: {value:.2f}; top now {top}"
    if movers:
        m = movers[0]
        verdict += f"; {m['feature']} rank {m['reference_rank']} -> {m['live_rank']}"
    detail = {
        "reference": dict(zip(features, ref.tolist(), strict=True)),
        "live": dict(zip(features, live.tolist(), strict=True)),
        "movers": movers,
        "rows": {
            "reference": min(len(reference), limits.max_rows),
            "live": min(len(current), limits.max_rows),
        },
    }
    return judged("importance", value, limits, verdict, detail)
