"""LightGBM training with early stopping on an inner, purged validation block."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np

from pipelines.training.params import ModelParams


def lgb_params(model: ModelParams, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """LightGBM parameters: deterministic, fixed threads and seeds, quiet."""
    params: dict[str, Any] = {
        "objective": model.objective,
        "learning_rate": model.learning_rate,
        "num_leaves": model.num_leaves,
        "min_data_in_leaf": model.min_data_in_leaf,
        "feature_fraction": model.feature_fraction,
        "bagging_fraction": model.bagging_fraction,
        "bagging_freq": 1,
        "lambda_l2": model.lambda_l2,
        "max_bin": model.max_bin,
        "num_threads": model.num_threads,
        "seed": model.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
    params["metric"] = "binary_logloss" if model.objective == "binary" else "l2"
    params.update(overrides or {})
    return params


def fit(
    x: np.ndarray,
    y: np.ndarray,
    fit_rows: np.ndarray,
    val_rows: np.ndarray,
    model: ModelParams,
    feature_names: list[str],
    overrides: dict[str, Any] | None = None,
) -> lgb.Booster:
    """Train on ``fit_rows``, stop early on ``val_rows``; the booster keeps its best iteration.

    Args:
        x: Feature matrix of all samples.
        y: Target of all samples (label sign or forward return).
        fit_rows: Rows to fit on.
        val_rows: Rows of the early-stopping block (later in time, purged from ``fit_rows``).
        model: Base LightGBM settings.
        feature_names: Column names stored in the model.
        overrides: Tuned hyperparameters.

    Returns:
        The trained booster, truncated to its best iteration.
    """
    params = lgb_params(model, overrides)
    train_set = lgb.Dataset(
        x[fit_rows], y[fit_rows], feature_name=feature_names, free_raw_data=True
    )
    valid_set = lgb.Dataset(x[val_rows], y[val_rows], reference=train_set)
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=model.num_boost_round,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(model.early_stopping_rounds, verbose=False)],
    )
    best = booster.best_iteration or booster.current_iteration()
    # Re-serialise at the best iteration so every consumer predicts the same trees.
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
