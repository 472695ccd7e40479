"""Tune stage: Optuna with a seeded TPE sampler and a fixed trial budget.

Trials are scored by the per-bar Sharpe of the strategy on a purged validation block inside the
tuning region (the bars before the first walk-forward test block); every trial's Sharpe is kept
because the Deflated Sharpe Ratio needs their spread and count. ``run`` is pure; ``main`` reads
the store, labels and bars and writes ``models/tuning.json`` (no timestamps: deterministic).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from pipelines.config import Params
from pipelines.io import atomic
from pipelines.training import evaluate
from pipelines.training.inputs import (
    TUNING_FILE,
    Prepared,
    finite,
    prepare,
    read_inputs,
    tuning_rows,
)
from pipelines.training.params import TuningParams

log = logging.getLogger(__name__)

Objective = Callable[[dict[str, Any]], float]
# The study's value of a trial whose Sharpe is NaN: the worst, so it is never chosen.
WORST_SCORE = -1e9


@dataclass(frozen=True)
class TuningResult:
    """Best hyperparameters and every trial's score and parameters."""

    best_params: dict[str, Any]
    best_value: float
    trial_values: list[float]
    n_trials: int
    trial_params: list[dict[str, Any]]


def suggest(trial: optuna.Trial) -> dict[str, Any]:
    """The search space (LightGBM parameter names)."""
    return {
        "num_leaves": trial.suggest_int("num_leaves", 4, 63, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 50, 2000, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.03, 0.3, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
    }


def study_score(value: float) -> float:
    """What the study maximises for a trial's Sharpe: NaN counts as :data:`WORST_SCORE`."""
    return value if value == value else WORST_SCORE


def tune(objective: Objective, params: TuningParams) -> TuningResult:
    """Run ``params.n_trials`` trials of ``objective`` (higher is better), logging progress.

    A trial whose score is NaN counts as the worst score, so it is never chosen.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=params.seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    values: list[float] = []
    tried: list[dict[str, Any]] = []

    def run(trial: optuna.Trial) -> float:
        overrides = suggest(trial)
        value = objective(overrides)
        values.append(value)
        tried.append(overrides)
        score = study_score(value)
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
        trial_params=tried,
    )


def tuning_objective(prep: Prepared, params: Params) -> Objective:
    """Per-bar Sharpe on the last 30% of the tuning region, trained on the purged rest."""
    tp = params.training
    ds = prep.ds
    region_end = prep.first_test - 1
    cut = int(region_end * 0.7)
    rows, test = tuning_rows(ds, prep.first_test, prep.embargo)

    def trial(overrides: dict[str, Any]) -> float:
        booster = evaluate.train_rows(ds, rows, tp.model, tp.splits.validation_fraction, overrides)
        pos = evaluate.position_grid(
            ds, test, booster.predict(ds.x[test]), tp.model.objective, prep.rule
        )
        bt = evaluate.run_portfolio(
            pos[: region_end + 1], prep.grid_returns[: region_end + 1], prep.cost, 1.0, cut
        )
        return float(bt.summary["sharpe"])

    return trial


def run(
    store: pd.DataFrame,
    metadata: dict[str, Any],
    labels: pd.DataFrame,
    bars: pd.DataFrame,
    params: Params,
) -> dict[str, Any]:
    """Tune the model on the bars before the first walk-forward test block.

    Returns:
        The ``tuning.json`` payload: best params, trial budget, every trial's score and params.
    """
    prep = prepare(store, metadata, labels, bars, params)
    result = tune(tuning_objective(prep, params), params.training.tuning)
    return payload(result, params.training.tuning.seed)


def payload(result: TuningResult, seed: int) -> dict[str, Any]:
    """The ``tuning.json`` payload of a result (trials numbered in the order they were made)."""
    return {
        "best_params": result.best_params,
        "best_value": finite(result.best_value),
        "n_trials": result.n_trials,
        "sampler": {"name": "TPESampler", "seed": seed},
        "score": "per-bar Sharpe on a purged validation block before the first OOS bar",
        "trials": [
            {"number": i, "value": finite(v), "params": p}
            for i, (v, p) in enumerate(zip(result.trial_values, result.trial_params, strict=True))
        ],
    }


def main(
    params: Params,
    params_path: str | Path = "params.yaml",
    collect: str | None = None,
    journal: str | Path | None = None,
) -> int:
    """Read the store, labels and bars; tune; write ``models/tuning.json``.

    With ``training.tuning.workers`` above 1 the trials run in that many ``pipelines
    tune-worker`` processes sharing one study (:mod:`pipelines.training.tune_shared`). With
    ``collect``, the trials already ran (the cluster's fan-out): the result is study ``collect``.
    """
    started = time.perf_counter()
    if collect is not None:
        from pipelines.training import tune_shared

        payload = tune_shared.finish(params, collect, journal)
    elif params.training.tuning.workers > 1:
        from pipelines.training import tune_shared

        payload = tune_shared.run(params, Path(params_path))
    else:
        payload = run(*read_inputs(params), params)
    atomic.write_json(Path(params.paths.models) / TUNING_FILE, payload)
    log.info(
        "tune: best params %s after %d trials (%.1fs)",
        payload["best_params"],
        payload["n_trials"],
        time.perf_counter() - started,
    )
    return 0
