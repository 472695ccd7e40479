"""Annualisation, Sharpe, PSR/DSR, drawdown and win rate against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipelines.data.calendars import annualisation
from pipelines.training import metrics


@pytest.mark.parametrize(
    ("calendar", "frequency", "expected"),
    [
        ("XNYS", "daily", 252.0),
        ("XNYS", "hourly", 252.0 * 7),  # 9:30-16:00 touches seven clock hours
        ("XNYS", "minute", 252.0 * 390.0),
        ("FX", "hourly", 261.0 * 24),
        ("24/7", "daily", 365.0),
        ("24/7", "hourly", 8760.0),
    ],
)
def test_periods_per_year_come_from_the_calendar(
    calendar: str, frequency: str, expected: float
) -> None:
    year = annualisation([calendar], frequency, pd.Timestamp("2023-06-30"))  # type: ignore[arg-type]
    assert metrics.periods_per_year(year) == expected


def test_periods_override_and_unknown() -> None:
    assert metrics.periods_per_year(None, override=2000.0) == 2000.0
    with pytest.raises(ValueError, match="no trading year recorded"):
        metrics.periods_per_year({})


@pytest.mark.parametrize("ppy", [252.0, 1638.0, 98280.0])
def test_sharpe_annualisation_scales_with_sqrt_periods(ppy: float) -> None:
    r = np.random.default_rng(1).normal(0.0005, 0.01, 500)
    per_bar = float(np.mean(r) / np.std(r, ddof=1))
    assert metrics.sharpe(r, ppy) == pytest.approx(per_bar * math.sqrt(ppy))


def test_sharpe_is_nan_without_volatility() -> None:
    assert math.isnan(metrics.sharpe(np.zeros(10), 252))
    assert math.isnan(metrics.sharpe(np.array([0.01]), 252))


def test_max_drawdown_matches_brute_force() -> None:
    r = np.random.default_rng(2).normal(0.0, 0.02, 300)
    equity = np.concatenate([[1.0], np.cumprod(1 + r)])
    brute = max(
        1 - equity[j] / equity[i] for i in range(len(equity)) for j in range(i, len(equity))
    )
    assert metrics.max_drawdown(r) == pytest.approx(brute)


def test_win_rate_counts_only_bars_with_a_position() -> None:
    r = np.array([0.01, -0.01, 0.0, 0.02, -0.03])
    exposure = np.array([1.0, 1.0, 0.0, 0.5, 0.0])
    assert metrics.win_rate(r, exposure) == pytest.approx(2 / 3)
    assert math.isnan(metrics.win_rate(r, np.zeros(5)))


def test_psr_matches_the_formula() -> None:
    r = np.random.default_rng(3).normal(0.001, 0.01, 1000)
    sr = r.mean() / r.std(ddof=1)
    g3, g4 = stats.skew(r), stats.kurtosis(r, fisher=False)
    z = sr * math.sqrt(len(r) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    assert metrics.probabilistic_sharpe(r) == pytest.approx(stats.norm.cdf(z))


def test_dsr_is_below_psr_with_many_trials_and_equal_with_one() -> None:
    r = np.random.default_rng(4).normal(0.001, 0.01, 1000)
    trials = np.random.default_rng(5).normal(0.0, 0.03, 50)
    psr = metrics.probabilistic_sharpe(r)
    assert metrics.deflated_sharpe(r, trials, 1) == pytest.approx(psr)
    assert metrics.deflated_sharpe(r, trials, 50) < psr
    # More trials raise the bar.
    assert metrics.expected_max_sharpe(trials, 100) > metrics.expected_max_sharpe(trials, 10)
