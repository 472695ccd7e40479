"""The hourly checks one by one: each figure on data whose answer is known, and its verdict."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from pipelines.monitoring import correlation, importance, power, ranges
from pipelines.monitoring.checks import judge
from pipelines.monitoring.params import (
    CorrelationParams,
    ImportanceParams,
    Limits,
    OutlierParams,
    PredictionPowerParams,
)

RNG_SEED = 11


def test_judge_follows_the_direction_of_the_limits_and_fails_closed_on_nan():
    high = Limits(warning=0.2, critical=0.3)
    low = Limits(warning=0.6, critical=0.3, higher_is_worse=False)
    assert [judge(v, high) for v in (0.1, 0.2, 0.25, 0.31)] == ["ok", "ok", "warning", "critical"]
    assert [judge(v, low) for v in (0.9, 0.6, 0.5, 0.2)] == ["ok", "ok", "warning", "critical"]
    assert judge(float("nan"), high) == "critical"
    with pytest.raises(ValueError, match="at least as bad"):
        Limits(warning=0.3, critical=0.2)


def test_outlier_share_counts_values_beyond_the_tukey_fences():
    rng = np.random.default_rng(RNG_SEED)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 5000), "y": rng.normal(0, 1, 5000)})
    current = pd.DataFrame({"x": rng.normal(0, 1, 1000), "y": rng.normal(0, 1, 1000)})
    current.loc[:59, "x"] = 50.0  # 6% far beyond any fence
    current.loc[60:69, "x"] = np.nan  # not counted in the denominator
    limits = OutlierParams(warning=0.02, critical=0.05, iqr_multiplier=3.0)
    result = ranges.outliers(reference, current, ["x", "y"], limits)
    q1, q3 = np.quantile(reference["x"], [0.25, 0.75])
    row = result.detail["features"]["x"]
    assert row["low"] == pytest.approx(q1 - 3 * (q3 - q1))
    assert row["high"] == pytest.approx(q3 + 3 * (q3 - q1))
    expected = (np.count_nonzero(current["x"].dropna() > row["high"])) / 990
    assert row["share"] == pytest.approx(expected)
    assert result.value == pytest.approx(expected) and expected > 0.05
    assert result.status == "critical"
    assert "x" in result.verdict
    calm = ranges.outliers(reference, reference.iloc[:1000], ["x", "y"], limits)
    assert calm.status == "ok" and calm.value < 0.01


def test_value_range_reports_live_extremes_and_the_share_outside_training():
    reference = pd.DataFrame({"x": np.linspace(0.0, 1.0, 101)})
    current = pd.DataFrame({"x": [0.5, 0.2, 1.5, -0.5, 0.9, 1.0, 0.0, np.nan]})
    result = ranges.value_range(reference, current, ["x"], Limits(warning=0.02, critical=0.05))
    row = result.detail["features"]["x"]
    assert (row["reference_min"], row["reference_max"]) == (0.0, 1.0)
    assert (row["live_min"], row["live_max"]) == (-0.5, 1.5)
    assert row["share_outside"] == pytest.approx(2 / 7)  # bounds inclusive, NaN not counted
    assert result.status == "critical"


def test_correlation_change_is_the_mean_absolute_change_and_names_the_movers():
    rng = np.random.default_rng(RNG_SEED)
    base = rng.normal(size=4000)
    reference = pd.DataFrame(
        {"a": base, "b": base + 0.3 * rng.normal(size=4000), "c": rng.normal(size=4000)}
    )
    current = pd.DataFrame(
        {"a": rng.normal(size=4000), "b": rng.normal(size=4000), "c": rng.normal(size=4000)}
    )
    limits = CorrelationParams(warning=0.2, critical=0.4, top_pairs=2)
    result = correlation.correlation(reference, current, ["a", "b", "c"], limits)
    changes = [
        abs(reference[x].corr(reference[y]) - current[x].corr(current[y]))
        for x, y in (("a", "b"), ("a", "c"), ("b", "c"))
    ]
    assert result.value == pytest.approx(np.mean(changes))
    assert result.detail["movers"][0]["pair"] == "a~b"
    assert len(result.detail["movers"]) == 2
    assert result.status == "warning"  # one pair of three moved by ~0.95
    same = correlation.correlation(reference, reference, ["a", "b", "c"], limits)
    assert same.value == pytest.approx(0.0) and same.status == "ok"
    flat = current.assign(c=1.0)
    assert correlation.correlation(reference, flat, ["a", "b", "c"], limits).status == "critical"


def _model(rng: np.random.Generator) -> lgb.Booster:
    x = rng.normal(size=(4000, 4))
    y = (3 * x[:, 0] + 2 * x[:, 1] + x[:, 2] > 0).astype(int)
    params = {"objective": "binary", "verbose": -1, "num_leaves": 8, "seed": 1}
    return lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=30)


def test_importance_rank_correlation_drops_when_the_model_leans_on_other_features():
    rng = np.random.default_rng(RNG_SEED)
    booster = _model(rng)
    names = ["f0", "f1", "f2", "f3"]
    reference = pd.DataFrame(rng.normal(size=(2000, 4)), columns=names)
    # Live: f0 barely moves, f2 moves a lot: the model's attention turns around.
    live = pd.DataFrame(rng.normal(size=(800, 4)) * [0.01, 0.3, 4.0, 1.0], columns=names)
    limits = ImportanceParams(warning=0.6, critical=0.3)
    moved = importance.importance(booster, reference, live, names, limits)
    assert moved.value < 0.3 and moved.status == "critical"
    assert moved.detail["movers"][0]["feature"] in {"f0", "f2"}
    assert sum(moved.detail["live"].values()) == pytest.approx(1.0)
    steady = importance.importance(booster, reference, reference.iloc[:800], names, limits)
    assert steady.value == pytest.approx(1.0) and steady.status == "ok"


def _predictions(rng, n_times, instruments, strength):
    rows = []
    for name in instruments:
        signal = rng.normal(size=n_times)
        realised = strength * signal + rng.normal(size=n_times)
        stamps = pd.date_range("2024-01-01", periods=n_times, freq="D", tz="UTC")
        rows.append(
            pd.DataFrame(
                {
                    "timestamp": stamps,
                    "instrument": name,
                    "prediction": 0.5 + 0.1 * np.tanh(signal),
                    "fwd_return": realised,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_prediction_power_compares_live_ic_and_hit_rate_with_the_backtest():
    rng = np.random.default_rng(RNG_SEED)
    instruments = ["AAA", "BBB", "CCC", "DDD"]
    backtest = power.baseline(_predictions(rng, 500, instruments, 0.5), 0.5)
    assert 0.3 < backtest["ic"] < 0.5 and 0.6 < backtest["hit_rate"] < 0.7
    params = PredictionPowerParams(window_bars=126, min_pairs=200)
    same = power.latest_realised(_predictions(rng, 300, instruments, 0.5), None, 126)
    assert same["timestamp"].nunique() == 126
    ok = power.prediction_power(same, backtest, 0.5, params)
    assert ok.status == "ok" and abs(ok.value) < 0.1
    decayed = _predictions(rng, 300, instruments, 0.0)
    bad = power.prediction_power(power.latest_realised(decayed, None, 126), backtest, 0.5, params)
    assert bad.status == "critical" and bad.value > 0.3
    assert bad.detail["live"]["by_instrument"]["AAA"]["pairs"] == 126
    few = power.prediction_power(same.iloc[:50], backtest, 0.5, params)
    assert few.status == "ok" and few.value is None and "no verdict" in few.verdict
    assert power.prediction_power(same, None, 0.5, params).value is None


def test_only_rows_after_the_training_span_count():
    rng = np.random.default_rng(RNG_SEED)
    frame = _predictions(rng, 100, ["AAA"], 0.5)
    cut = frame["timestamp"].iloc[59]
    kept = power.latest_realised(frame, cut, 126)
    assert kept["timestamp"].min() > cut and len(kept) == 40


def test_confidence_psi_sees_an_indecisive_model():
    rng = np.random.default_rng(RNG_SEED)
    reference = rng.uniform(0, 1, 2000)
    limits = Limits(warning=0.2, critical=0.3)
    assert power.confidence(reference, rng.uniform(0, 1, 800), limits, 10, 1e-4).status == "ok"
    timid = power.confidence(reference, rng.uniform(0, 0.1, 800), limits, 10, 1e-4)
    assert timid.status == "critical"
    assert timid.detail["histogram"]["live"][0] == pytest.approx(1.0)
