"""Stage boundaries: tune -> train -> backtest hand over files, and the backtest stage's metrics
match an independent bar-by-bar computation from the train stage's out-of-sample positions."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.config import parse_params
from pipelines.errors import DataError
from pipelines.training import backtest_stage, metrics, train
from tests.training.conftest import Stages, fast_params

PPY = 252.0  # daily equities


def loop_backtest(weights: np.ndarray, returns: np.ndarray, cost: float) -> dict[str, np.ndarray]:
    """Bar by bar: hold yesterday's target, let it drift, rebalance to today's at a cost."""
    held = np.zeros(weights.shape[1])
    net, traded, exposure = [], [], []
    for t in range(weights.shape[0]):
        r = np.nan_to_num(returns[t])
        gross = float(held @ r)
        drifted = held * (1.0 + r) / (1.0 + gross)
        trade = float(np.abs(weights[t] - drifted).sum())
        net.append((1.0 + gross) * (1.0 - cost * trade) - 1.0)
        traded.append(trade)
        exposure.append(float(np.abs(held).sum()))
        held = weights[t]
    return {"net": np.array(net), "traded": np.array(traded), "exposure": np.array(exposure)}


def headline(run: dict[str, np.ndarray]) -> dict[str, float]:
    r = run["net"]
    equity = np.cumprod(1.0 + r)
    peaks = np.maximum.accumulate(np.concatenate([[1.0], equity]))
    return {
        "sharpe": r.mean() / r.std(ddof=1) * math.sqrt(PPY),
        "total_pnl": equity[-1] - 1.0,
        "max_drawdown": float(np.max(1.0 - np.concatenate([[1.0], equity]) / peaks)),
        "win_rate": float(np.mean(r[run["exposure"] > 0] > 0)),
        "annual_turnover": run["traded"].mean() * PPY,
    }


def wide(frame: pd.DataFrame, column: str, times: list[Any], names: list[str]) -> np.ndarray:
    table = frame.pivot(index="timestamp", columns="instrument", values=column)
    return table.reindex(index=times, columns=names).to_numpy(dtype="float64")


@pytest.fixture(scope="module")
def grid(stages: Stages, synthetic: dict[str, Any]) -> dict[str, Any]:
    names = sorted(synthetic["bars"]["instrument"].unique())
    times = sorted(stages.trained.cpcv["timestamp"].unique())
    oos_times = sorted(stages.trained.oos["timestamp"].unique())
    close = wide(synthetic["bars"], "close", times, names)
    returns = np.vstack([np.full(len(names), np.nan), close[1:] / close[:-1] - 1.0])
    first = times.index(oos_times[0])
    bt = synthetic["params"].training.backtest
    cost = (bt.cost_bps + bt.slippage_bps) / 10_000.0
    return {"names": names, "times": times, "returns": returns, "first": first, "cost": cost}


def test_metrics_match_an_independent_computation(stages: Stages, grid: dict[str, Any]) -> None:
    names, times, first, cost = grid["names"], grid["times"], grid["first"], grid["cost"]
    returns = grid["returns"][first:]
    positions = np.nan_to_num(wide(stages.trained.oos, "position", times[first:], names))
    mine = loop_backtest(positions / len(names), returns, cost)
    got = stages.metrics
    for key, value in headline(mine).items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key

    has_price = np.isfinite(returns)
    naive = has_price / np.maximum(has_price.sum(axis=1, keepdims=True), 1)
    assert got["baseline_naive_pnl"] == pytest.approx(
        headline(loop_backtest(naive, returns, cost))["total_pnl"], rel=1e-9
    )
    for j, name in enumerate(names):
        alone = loop_backtest(positions[:, [j]], returns[:, [j]], cost)
        assert stages.evaluation["per_instrument"][name]["total_pnl"] == pytest.approx(
            headline(alone)["total_pnl"], rel=1e-9
        )

    # The DSR deflates by the tune stage's trial count and the spread of its trial scores.
    trial_sr = np.array([t["value"] for t in stages.tuning["trials"]], dtype="float64")
    assert got["n_trials"] == stages.tuning["n_trials"] == len(trial_sr)
    assert got["dsr"] == pytest.approx(
        metrics.deflated_sharpe(mine["net"], trial_sr, len(trial_sr)), rel=1e-9
    )


def test_cpcv_sharpe_distribution_matches(stages: Stages, grid: dict[str, Any]) -> None:
    names, times = grid["names"], grid["times"]
    sharpes = []
    for _, path in stages.trained.cpcv.groupby("path"):
        positions = np.nan_to_num(wide(path, "position", times, names))
        sharpes.append(
            headline(loop_backtest(positions / len(names), grid["returns"], grid["cost"]))["sharpe"]
        )
    assert stages.evaluation["cpcv_path_sharpes"] == pytest.approx(sharpes, rel=1e-9)
    assert stages.metrics["cpcv_sharpe_mean"] == pytest.approx(np.mean(sharpes), rel=1e-9)
    assert stages.metrics["cpcv_sharpe_std"] == pytest.approx(np.std(sharpes, ddof=1), rel=1e-9)


def _rerun(stages: Stages, synthetic: dict[str, Any], **changes: Any) -> dict[str, Any]:
    params = changes.pop("params", synthetic["params"])
    tuning = {**stages.tuning, **changes}
    out = backtest_stage.run(
        stages.trained.oos,
        stages.trained.cpcv,
        synthetic["bars"],
        json.loads(json.dumps(stages.trained.report)),
        tuning,
        params,
    )
    return out.metrics


def test_costs_and_trial_count_only_need_the_backtest_stage(
    stages: Stages, synthetic: dict[str, Any]
) -> None:
    costly = _rerun(stages, synthetic, params=fast_params(backtest={"cost_bps": 20.0}))
    assert costly["annual_turnover"] == pytest.approx(stages.metrics["annual_turnover"])
    assert costly["total_pnl"] < stages.metrics["total_pnl"]
    more_trials = _rerun(stages, synthetic, n_trials=stages.tuning["n_trials"] * 50)
    assert more_trials["dsr"] < stages.metrics["dsr"]
    assert more_trials["sharpe"] == stages.metrics["sharpe"]


def test_walk_forward_rows_must_reach_the_end_of_the_grid(
    stages: Stages, synthetic: dict[str, Any]
) -> None:
    oos = stages.trained.oos
    short = oos[oos["timestamp"] < oos["timestamp"].max()]
    cut = dataclasses.replace(stages.trained, oos=short)
    with pytest.raises(DataError, match="oos_predictions.parquet"):
        backtest_stage.run(
            cut.oos, cut.cpcv, synthetic["bars"], cut.report, stages.tuning, synthetic["params"]
        )


def test_tuning_output_is_complete_and_json_clean(
    stages: Stages, synthetic: dict[str, Any]
) -> None:
    tuning = stages.tuning
    assert tuning["n_trials"] == synthetic["params"].training.tuning.n_trials
    assert len(tuning["trials"]) == tuning["n_trials"]
    json.dumps(tuning, allow_nan=False)  # no NaN and no timestamps: a deterministic file
    scored = [t for t in tuning["trials"] if t["value"] is not None]
    best = max(scored, key=lambda t: t["value"])
    assert tuning["best_params"] == best["params"]
    assert tuning["best_value"] == best["value"]
    assert stages.bundle["metadata"]["best_params"] == tuning["best_params"]


def test_train_refuses_a_missing_tuning_result(tmp_path: Path) -> None:
    params = parse_params({"paths": {"models": str(tmp_path)}})
    with pytest.raises(DataError, match=r"tuning\.json: not found; run `pipelines tune`"):
        train.main(params)


def test_backtest_refuses_missing_positions(tmp_path: Path) -> None:
    params = parse_params({"paths": {"models": str(tmp_path)}})
    keys = ("data", "leakage", "oos", "features", "feature_importance", "params_hash")
    (tmp_path / "training.json").write_text(json.dumps(dict.fromkeys(keys, {})))
    (tmp_path / "tuning.json").write_text('{"best_params": {}, "n_trials": 1, "trials": []}')
    with pytest.raises(DataError, match=r"oos_predictions\.parquet: not found; run `pipelines tr"):
        backtest_stage.main(params)
