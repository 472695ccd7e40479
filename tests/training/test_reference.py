"""The bundle's monitoring reference comes from the last training year, seeded; the backtest's
prediction power is the IC and hit rate of the out-of-sample predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.training.reference import (
    backtest_prediction_power,
    recent_rows,
    reference_summary,
)


def test_reference_rows_come_from_the_last_window_only_seeded_and_sorted():
    positions = np.repeat(np.arange(1000), 3)  # 1000 times x 3 instruments
    picked = recent_rows(positions, 252, 500, seed=4)
    assert len(picked) == 500 and np.all(np.diff(picked) > 0)
    assert positions[picked].min() >= 1000 - 252
    assert np.array_equal(picked, recent_rows(positions, 252, 500, seed=4))
    # A window with fewer rows than asked: all of them.
    assert len(recent_rows(positions, 10, 500, seed=4)) == 30
    assert len(recent_rows(np.array([], dtype=int), 10, 5, seed=4)) == 0


def test_summary_and_backtest_power_are_json_ready():
    stamps = pd.date_range("2020-01-01", periods=300, freq="D", tz="UTC")
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "timestamp": np.repeat(stamps, 2),
            "instrument": np.tile(["A", "B"], 300),
            "fwd_return": rng.normal(size=600),
        }
    )
    picked = recent_rows(np.repeat(np.arange(300), 2), 100, 50, seed=1)
    summary = reference_summary(frame, picked, 100)
    assert summary["rows"] == 50 and summary["start"] >= str(stamps[200])
    signal = frame["fwd_return"].to_numpy()
    predictions = 0.5 + 0.1 * np.tanh(signal)  # monotonic in the outcome: always right
    power = backtest_prediction_power(frame, np.arange(600), predictions, "binary")
    assert power["hit_rate"] == pytest.approx(1.0) and power["ic"] == pytest.approx(1.0)
    assert set(power["by_instrument"]) == {"A", "B"} and power["pairs"] == 600
