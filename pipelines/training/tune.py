"""Hyperparameter search: Optuna with a seeded TPE sampler and a fixed trial budget.

Trials are scored by the per-bar Sharpe of the strategy on a purged validation block inside the
tuning region; every trial's Sharpe is kept because the Deflated Sharpe Ratio needs their spread
and count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna

from pipelines.training.params import TuningParams

log = logging.getLogger(__name__)

Objective = Callable[[dict[str, Any]], float]


@dataclass(frozen=True)
class TuningResult:
    """Best hyperparameters and every trial's score."""

    best_params: dict[str, Any]
    best_value: float
    trial_values: list[float]
    n_trials: int


def suggest(trial: optuna.Trial) -> dict[str, Any]:
    """The search space (LightGBM parameter names)."""
    return {
        "num_leaves": trial.suggest_int("num_leaves", 4, 63, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 50, 2000, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.03, 0.3, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
    }


def tune(objective: Objective, params: TuningParams) -> TuningResult:
    """Run ``params.n_trials`` trials of ``objective`` (higher is better), logging progress.

    A trial whose score is NaN counts as the worst score, so it is never chosen.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=params.seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    values: list[float] = []

    def run(trial: optuna.Trial) -> float:
        value = objective(suggest(trial))
        values.append(value)
        score = value if value == value else -1e9
        log.info(
            "tune: trial %d/%d sharpe/bar %.4f %s",
            trial.number + 1,
            params.n_trials,
            value,
            trial.params,
        )
        return score

    study.optimize(run, n_trials=params.n_trials)
    return TuningResult(
        best_params=dict(study.best_params),
        best_value=float(study.best_value),
        trial_values=values,
        n_trials=params.n_trials,
    )
