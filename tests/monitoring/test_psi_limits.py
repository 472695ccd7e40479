"""Per-feature PSI limits: calibrated on the history, applied by the hourly check, exported."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipelines.config import load_params
from pipelines.monitoring import hourly, psi_limits
from pipelines.monitoring.textfile import render_feature_health
from tests.conftest import REPO_ROOT

FLOOR = (0.2, 0.3)
TIMES, INSTRUMENTS = 1500, 20


def history(seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Two features over 1,500 bars of 20 instruments, rows sorted by time.

    ``regime`` has a slow common factor (every instrument moves with the market, as a 14-bar
    RSI does), so a 21-bar window of it is far from a year of it; ``noise`` is independent.
    """
    rng = np.random.default_rng(seed)
    positions = np.repeat(np.arange(TIMES), INSTRUMENTS)
    common = np.repeat(np.cumsum(rng.normal(0, 0.2, TIMES)) % 6 - 3, INSTRUMENTS)
    regime = common + rng.normal(0, 0.5, positions.size)
    return positions, {"regime": regime, "noise": rng.normal(0, 1, positions.size)}


def calibrated(gap_bars: int = 21, floor: tuple[float, float] = FLOOR) -> dict:
    positions, values = history()
    return psi_limits.calibrate(
        positions,
        values,
        {"regime": 21, "noise": 21},
        reference_bars=252,
        gap_bars=gap_bars,
        step=21,
        floor=floor,
    )


def test_a_market_wide_feature_gets_wider_limits_than_noise() -> None:
    out = calibrated()
    regime, noise = out["features"]["regime"], out["features"]["noise"]
    assert out["windows"] == {"regime": 59, "noise": 59}  # (1500 - 273) // 21 + 1 end points
    assert regime["warning"] == regime["p95"] > 1.0 and regime["critical"] == regime["p99"]
    assert regime["critical"] >= regime["warning"]
    # Independent noise over 420 values scores far below the configured limits: the floor holds.
    assert noise["p99"] < 0.2 and (noise["warning"], noise["critical"]) == FLOOR


def test_the_live_window_follows_its_reference() -> None:
    # The same rows, a gap of 0 (live inside the reference) against 252 bars (a year later).
    near = calibrated(gap_bars=0, floor=(0.0, 0.0))["features"]["regime"]["p95"]
    far = calibrated(gap_bars=252, floor=(0.0, 0.0))["features"]["regime"]["p95"]
    assert near < far


def test_too_short_a_history_keeps_the_configured_limits() -> None:
    positions, values = history()
    # End points run from the last bar back every 21 bars to bar 272 (252 + 21 - 1); one bar
    # fewer than 272 + 21 * 19 + 1 leaves 19 of them.
    keep = positions < 272 + 21 * (psi_limits.MIN_WINDOWS - 1)
    out = psi_limits.calibrate(
        positions[keep],
        {k: v[keep] for k, v in values.items()},
        {"regime": 21, "noise": 21},
        reference_bars=252,
        gap_bars=21,
        step=21,
        floor=FLOOR,
    )
    assert out["windows"]["regime"] == psi_limits.MIN_WINDOWS - 1
    assert out["features"]["regime"] == {"warning": 0.2, "critical": 0.3, "p95": None, "p99": None}


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (None, FLOOR),
        ({}, FLOOR),
        ({"psi_limits": {"features": {"other": {"warning": 1, "critical": 2}}}}, FLOOR),
        ({"psi_limits": {"features": {"f": {"warning": 1.5, "critical": 2.5}}}}, (1.5, 2.5)),
        ({"psi_limits": {"features": {"f": {"warning": 0.1, "critical": 0.25}}}}, FLOOR),
        ({"psi_limits": {"features": {"f": {"warning": 3.0, "critical": 2.0}}}}, FLOOR),
        ({"psi_limits": {"features": {"f": {"warning": math.nan, "critical": 2.0}}}}, FLOOR),
        ({"psi_limits": {"features": {"f": {"warning": "1", "critical": 2.0}}}}, FLOOR),
        ({"psi_limits": {"features": {"f": None}}}, FLOOR),
    ],
)
def test_a_missing_or_odd_calibration_never_loosens_the_limits(
    metadata: dict | None, expected: tuple[float, float]
) -> None:
    assert psi_limits.limits_for(metadata, "f", FLOOR) == expected


def store_and_reference() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"a": rng.normal(0, 1, 2000), "b": rng.normal(0, 1, 2000)})
    stamps = pd.date_range("2024-01-01", periods=30, freq="D", tz="UTC")
    store = pd.DataFrame(
        {
            "timestamp": np.repeat(stamps, 20),
            "instrument": np.tile([f"I{i}" for i in range(20)], 30),
            "a": rng.normal(1.2, 1, 600),  # shifted: PSI about 1
            "b": rng.normal(0, 1, 600),
        }
    )
    return store, reference


def test_the_hourly_check_applies_each_features_own_limits() -> None:
    params = load_params(REPO_ROOT / "params.yaml")
    store, reference = store_and_reference()
    windows = hourly.Windows(store)
    recent = windows.latest(params.monitoring.window_bars)
    plain = hourly.drift_rows(reference, windows, recent, ["a", "b"], params)
    assert plain[0].status == "critical" and plain[0].psi > 0.6
    assert (plain[0].psi_warning, plain[0].psi_critical) == FLOOR
    metadata = {"psi_limits": {"features": {"a": {"warning": 0.5, "critical": 5.0}}}}
    rows = hourly.drift_rows(reference, windows, recent, ["a", "b"], params, metadata)
    assert rows[0].status == "warning" and rows[0].psi == plain[0].psi
    assert (rows[0].psi_warning, rows[0].psi_critical) == (0.5, 5.0)
    assert rows[1].status == "ok" and (rows[1].psi_warning, rows[1].psi_critical) == FLOOR
    check = hourly.psi_check(rows)
    assert (check.status, check.warning, check.critical) == ("warning", 0.5, 5.0)
    assert "on a (warning 0.5, critical 5)" in check.verdict


def test_the_psi_row_names_a_warning_feature_before_an_ok_one_closer_to_its_limit() -> None:
    params = load_params(REPO_ROOT / "params.yaml")
    store, reference = store_and_reference()
    windows = hourly.Windows(store)
    recent = windows.latest(params.monitoring.window_bars)
    psi_a = hourly.drift_rows(reference, windows, recent, ["a"], params)[0].psi
    psi_b = hourly.drift_rows(reference, windows, recent, ["b"], params)[0].psi
    metadata = {
        "psi_limits": {
            "features": {
                "a": {"warning": psi_a * 0.5, "critical": psi_a * 100},  # warning, ratio 0.01
                "b": {"warning": psi_b * 1.01, "critical": psi_b * 1.02},  # ok, ratio 0.98
            }
        }
    }
    params = params.model_copy(
        update={
            "health": params.health.model_copy(update={"psi_warning": 0.0, "psi_critical": 0.0})
        }
    )
    rows = hourly.drift_rows(reference, windows, recent, ["a", "b"], params, metadata)
    assert [r.status for r in rows] == ["warning", "ok"]
    assert hourly.psi_check(rows).status == "warning"


def test_the_limits_are_exported_beside_the_figure() -> None:
    params = load_params(REPO_ROOT / "params.yaml")
    store, reference = store_and_reference()
    windows = hourly.Windows(store)
    metadata = {"psi_limits": {"features": {"a": {"warning": 0.5, "critical": 5.0}}}}
    rows = hourly.drift_rows(reference, windows, windows.latest(21), ["a", "b"], params, metadata)
    text = render_feature_health(rows, "warning").decode()
    assert 'feature_psi_limit{feature="a",level="warning"} 0.5' in text
    assert 'feature_psi_limit{feature="a",level="critical"} 5.0' in text
    assert 'feature_psi_limit{feature="b",level="critical"} 0.3' in text
