"""The single-row fast path gives exactly what Booster.predict gives, NaN features included."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from pipelines.serving.single_row import SingleRowPredictor


@pytest.mark.parametrize("objective", ["binary", "regression"])
def test_single_row_predictions_equal_booster_predict(objective: str) -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, 6))
    x[rng.random(x.shape) < 0.05] = np.nan
    y = (np.nan_to_num(x[:, 0]) + rng.normal(scale=0.5, size=400) > 0).astype(float)
    params = {"objective": objective, "verbose": -1, "num_threads": 1, "seed": 3}
    booster = lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=30)
    fast = SingleRowPredictor(booster)
    rows = rng.normal(size=(200, 6))
    rows[rng.random(rows.shape) < 0.1] = np.nan
    got = np.array([fast.predict(row)[0] for row in rows])
    np.testing.assert_array_equal(got, booster.predict(rows))


def test_a_row_of_the_wrong_width_is_refused() -> None:
    x = np.arange(40.0).reshape(20, 2)
    booster = lgb.train({"verbose": -1}, lgb.Dataset(x, label=x[:, 0]), num_boost_round=2)
    with pytest.raises(ValueError, match="expected 2 features"):
        SingleRowPredictor(booster).predict(np.zeros(3))
