"""The learned-something gate: a degenerate model fails in every environment, dev included."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.config import parse_params
from pipelines.data.features import compute_features, compute_labels
from pipelines.training import card, gates
from pipelines.training.params import LearnedThresholds
from tests.training.conftest import Stages, fast_params, run_stages

FACTS: dict[str, Any] = {
    "trees": 40,
    "importance_total": 12.5,
    "prediction_std": 0.03,
    "baseline_agreement": 0.6,
    "tuning_spread": 0.2,
    "n_trials": 20,
}
BASELINE = {"kind": "naive_equal_weight_long", "description": "d", "total_pnl": 1.0, "reason": "r"}
CANDIDATE = {"bundle": "models/model_bundle.json", "sha256": "a" * 64, "git_commit": "abc"}


@pytest.mark.parametrize(
    ("change", "sign"),
    [
        ({"trees": 1}, "1 tree(s), fewer than 2"),
        ({"importance_total": 0.0}, "zero total feature importance (no split)"),
        ({"prediction_std": 1e-7}, "near-constant predictions (std 1e-07)"),
        ({"baseline_agreement": 1.0}, "positions equal the long baseline's on 100.0% of bars"),
        ({"tuning_spread": 0.0}, "all tuning trials tie"),
        ({"tuning_spread": None}, "fewer than two tuning trials scored"),
        ({"trees": None}, "trees not recorded"),
    ],
)
def test_each_sign_of_a_degenerate_model_fails(change: dict[str, Any], sign: str) -> None:
    found = gates.degeneracies({**FACTS, **change}, LearnedThresholds())
    assert found == [sign]
    assert gates.degeneracies(FACTS, LearnedThresholds()) == []
    assert (
        gates.degeneracies({**FACTS, "n_trials": 1, "tuning_spread": None}, LearnedThresholds())
        == []
    )


def _ar_bars(phi: float, instruments: int, seed: int, n_days: int = 700) -> pd.DataFrame:
    """Daily closes whose returns are AR(1) with coefficient ``phi`` (a learnable momentum)."""
    rng = np.random.default_rng(seed)
    stamps = pd.bdate_range("2015-01-01", periods=n_days, tz="UTC")
    frames = []
    for i in range(instruments):
        noise = rng.normal(0.0, 0.01, n_days)
        steps = np.zeros(n_days)
        for t in range(1, n_days):
            steps[t] = phi * steps[t - 1] + noise[t]
        close = 50.0 * np.exp(np.cumsum(steps))
        frames.append(pd.DataFrame({"timestamp": stamps, "instrument": f"S{i}", "close": close}))
    return pd.concat(frames, ignore_index=True)


def _run(bars: pd.DataFrame, **model: Any) -> Stages:
    params = fast_params(model={"min_data_in_leaf": 20, **model})
    store = compute_features(bars, params.features)
    metadata = {
        "features": [c for c in store.columns if c not in ("timestamp", "instrument")],
        "label_horizon": params.label.horizon,
        "frequency": "daily",
        "input_sha256": "0" * 64,
        "annualisation": {"bars_per_year": 252.0, "derivation": "24/5 calendar (test)"},
    }
    labels = compute_labels(bars, params.label)
    data = {"params": params, "bars": bars, "store": store, "labels": labels}
    return run_stages({**data, "metadata": metadata})


def _reports(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    params = parse_params({})
    return {
        env: gates.evaluate(
            env, params.gates.for_env(env), metrics, BASELINE, CANDIDATE, None, params.gates.learned
        )
        for env in ("dev", "staging", "prod")
    }


def test_a_one_instrument_one_tree_model_fails_in_dev_and_the_card_says_why() -> None:
    stages = _run(_ar_bars(0.1, 1, 3), num_boost_round=1, early_stopping_rounds=1)
    assert stages.metrics["trees"] == 1
    reports = _reports(stages.metrics)
    for report in reports.values():
        gate = next(g for g in report["gates"] if g["name"] == "learned_something")
        assert gate["verdict"] == "fail" and report["verdict"] == "fail"
        assert gate["reason"].startswith("learned nothing: 1 tree(s), fewer than 2")
    text = card.render_markdown(
        card.build_card(stages.evaluation, "b" * 64, fast_params(), reports)
    )
    assert "Learned something: no (learned nothing: 1 tree(s), fewer than 2" in text
    assert "Annualisation: 252 bars a year: 24/5 calendar (test)." in text


def test_a_model_of_a_learnable_series_learns_something() -> None:
    stages = _run(_ar_bars(0.3, 4, 0), num_boost_round=60, early_stopping_rounds=15)
    gate = next(
        g for g in _reports(stages.metrics)["dev"]["gates"] if g["name"] == "learned_something"
    )
    assert gate["verdict"] == "pass", gate["reason"]
    assert stages.metrics["trees"] >= 2 and stages.metrics["tuning_spread"] > 0
    assert 0.0 < stages.metrics["baseline_agreement"] < 0.9
