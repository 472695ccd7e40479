"""The online path (latest bar only) equals the offline pass bit for bit, on many random buffers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.data.features import compute_features
from pipelines.data.instrument_features import (
    BarArrays,
    latest_features,
    per_instrument_feature_names,
    required_history,
)
from pipelines.data.params import FeatureParams

PARAMS = FeatureParams(
    return_horizons=[1, 5, 21],
    volatility_windows=[2, 21, 63],
    momentum_windows=[5, 63],
    zscore_windows=[3, 21],
    rsi_window=14,
    cross_sectional=False,
)


def _random_bars(rng: np.random.Generator, n: int, instrument: str) -> pd.DataFrame:
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))
    if rng.random() < 0.5:  # a stale stretch: constant windows must match too
        at = int(rng.integers(0, n - 30))
        close[at : at + 30] = close[at]
    spread = np.abs(rng.normal(0.0, 0.01, n))
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2020-01-01", periods=n, freq="h", tz="UTC"),
            "instrument": instrument,
            "close": close,
            "high": close * (1 + spread),
            "low": close * (1 - spread),
            "volume": rng.integers(0, 10_000, n).astype("float64"),
        }
    )


@pytest.mark.parametrize("ohlcv", [False, True])
def test_latest_features_equal_the_offline_rows_exactly(ohlcv: bool) -> None:
    rng = np.random.default_rng(11)
    frames = [_random_bars(rng, int(rng.integers(80, 400)), f"I{k}") for k in range(6)]
    bars = pd.concat(frames, ignore_index=True)
    if not ohlcv:
        bars = bars[["timestamp", "instrument", "close"]]
    offline = compute_features(bars, PARAMS)
    names = per_instrument_feature_names(PARAMS, ohlcv)
    need = required_history(PARAMS, ohlcv)
    compared = 0
    for k, frame in enumerate(frames):
        mine = offline[offline["instrument"] == f"I{k}"].reset_index(drop=True)
        for end in rng.integers(1, len(frame) + 1, size=25):
            history = int(rng.integers(need, need + 40))
            window = bars[bars["instrument"] == f"I{k}"].iloc[max(0, end - history) : end]
            online = latest_features(BarArrays.from_frame(window), PARAMS)
            got = np.array([online[name] for name in names])
            want = mine.loc[end - 1, names].to_numpy(dtype="float64")
            np.testing.assert_array_equal(got, want)
            compared += 1
    assert compared == 150


def test_window_statistics_match_a_direct_two_pass_computation() -> None:
    rng = np.random.default_rng(3)
    bars = _random_bars(rng, 300, "X")[["timestamp", "instrument", "close"]]
    features = compute_features(bars, PARAMS)
    log_close = np.log(bars["close"].to_numpy())
    for t in range(25, 300, 7):
        win = log_close[t - 20 : t + 1]
        # A constant window has no z-score (two-pass numpy leaves a rounding residue there).
        flat = np.ptp(win) == 0
        expected = np.nan if flat else (win[-1] - win.mean()) / win.std(ddof=1)
        np.testing.assert_allclose(features["zscore_21"].iloc[t], expected, rtol=0, atol=1e-12)
        steps = np.diff(log_close[t - 21 : t + 1])
        np.testing.assert_allclose(features["vol_21"].iloc[t], steps.std(ddof=1), atol=1e-15)


def test_a_constant_window_has_no_zscore_and_zero_volatility() -> None:
    close = np.r_[np.linspace(10.0, 12.0, 40), np.full(30, 12.5)]
    online = latest_features(BarArrays(close), PARAMS)
    assert np.isnan(online["zscore_21"])
    assert online["vol_21"] == 0.0
    assert online["ret_5"] == 0.0


def test_too_short_a_history_gives_nan_not_an_error() -> None:
    online = latest_features(BarArrays(np.array([10.0, 11.0, 12.0])), PARAMS)
    assert online["ret_1"] == pytest.approx(np.log(12.0 / 11.0))
    assert np.isnan(online["vol_21"])
    assert np.isnan(online["mom_63"])


def test_no_bars_at_all_is_refused() -> None:
    with pytest.raises(ValueError, match="no bars"):
        latest_features(BarArrays(np.array([])), PARAMS)
